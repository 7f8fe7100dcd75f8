package tokenizer

// StreamDecoder turns tokens arriving one at a time into text deltas. A delta
// never ends inside a UTF-8 character or a run of byte-fallback tokens, and
// the deltas joined equal Decode of all the tokens. Not safe for concurrent
// use; make one per sequence.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []string // tokens not yet turned into text
	started     bool     // some token has gone through the decoder
}

// NewStreamDecoder returns a stream decoder; skipSpecial as in Decode.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Add takes the next token and returns the text it completes ("" while a
// character or byte run is still open).
func (d *StreamDecoder) Add(id int32) string {
	tok, ok := d.t.decodable(id, d.skipSpecial)
	if !ok {
		return ""
	}
	d.pending = append(d.pending, tok)
	if d.open() {
		return ""
	}
	return d.emit()
}

// Flush returns the text of tokens still held, complete or not; call it at
// the end of the sequence.
func (d *StreamDecoder) Flush() string {
	if len(d.pending) == 0 {
		return ""
	}
	return d.emit()
}

func (d *StreamDecoder) emit() string {
	s := d.t.decoder.run(d.pending, !d.started)
	d.started = true
	d.pending = d.pending[:0]
	return s
}

// open reports whether the held tokens end mid-way: a byte-fallback token
// (its run may go on) or bytes that do not yet complete a character.
func (d *StreamDecoder) open() bool {
	dec := d.t.decoder
	last := d.pending[len(d.pending)-1]
	if _, isByte := byteToken(last); dec.byteFallback && isByte {
		return true
	}
	if !dec.byteLevel {
		return false
	}
	var b []byte
	for _, tok := range d.pending {
		b = byteLevelBytes(b, tok)
	}
	return endsIncomplete(b)
}
