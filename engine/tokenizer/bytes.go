package tokenizer

import "unicode/utf8"

// byteToRune and runeToByte are GPT-2's reversible byte-to-character map: the
// printable Latin-1 bytes map to themselves, the rest to U+0100 and up, so
// every byte string becomes a string of visible characters.
var (
	byteToRune [256]rune
	byteToStr  [256]string
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE) {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToStr[b] = string(r)
		runeToByte[r] = byte(b)
	}
}

// byteLevelEncode maps every byte of s to its byte-level character.
func byteLevelEncode(s string) string {
	out := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, byteToStr[s[i]]...)
	}
	return string(out)
}

// byteLevelBytes appends the bytes a byte-level token stands for. A token with
// a character outside the map (an added token such as "<|im_start|>" with a
// space) contributes its own UTF-8 bytes, as Hugging Face does.
func byteLevelBytes(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], tok...)
		}
		dst = append(dst, b)
	}
	return dst
}

// lossyUTF8 converts b to a string, replacing each maximal ill-formed
// subsequence with one U+FFFD, as Rust's String::from_utf8_lossy does (Go's
// own conversions replace byte by byte, which gives a different count).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		out = append(out, "\uFFFD"...)
		i += invalidPrefixLen(b[i:])
	}
	return string(out)
}

// invalidPrefixLen returns the length of the maximal prefix of b that could
// start a valid UTF-8 sequence but does not complete one (at least 1).
func invalidPrefixLen(b []byte) int {
	need, lo, hi := seqShape(b[0])
	if need == 0 {
		return 1
	}
	n := 1
	for n <= need && n < len(b) {
		c := b[n]
		if n == 1 && (c < lo || c > hi) || n > 1 && (c < 0x80 || c > 0xBF) {
			break
		}
		n++
	}
	return n
}

// seqShape returns how many continuation bytes the lead byte c needs and the
// allowed range of the first one (Unicode table 3-7); need 0 means c cannot
// start a sequence.
func seqShape(c byte) (need int, lo, hi byte) {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 1, 0x80, 0xBF
	case c == 0xE0:
		return 2, 0xA0, 0xBF
	case c == 0xED:
		return 2, 0x80, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		return 2, 0x80, 0xBF
	case c == 0xF0:
		return 3, 0x90, 0xBF
	case c >= 0xF1 && c <= 0xF3:
		return 3, 0x80, 0xBF
	case c == 0xF4:
		return 3, 0x80, 0x8F
	}
	return 0, 0, 0
}

// endsIncomplete reports whether b ends with a proper prefix of a valid UTF-8
// sequence, i.e. more bytes could still complete its last character.
func endsIncomplete(b []byte) bool {
	for back := 1; back <= 3 && back <= len(b); back++ {
		i := len(b) - back
		if b[i] < 0x80 {
			return false
		}
		if b[i] >= 0xC0 {
			need, _, _ := seqShape(b[i])
			return need >= back && invalidPrefixLen(b[i:]) == back
		}
	}
	return false
}
