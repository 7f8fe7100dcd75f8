package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// Word pools for the benchmark texts, written for this file.
var (
	englishWords = strings.Fields(`the a of and to in is was for on that with as it his her they
		be at by from this had not are but or have an one which were all we when there can
		been has more if no out so said what up its about into than them only time new some
		could these two may first then do any like my now over such our man me even most made
		after also did many before must through back years where much your way well down
		should because each just those people how too little state good very make world still
		own see men work long get here between both life being under never day same another
		know while last might us great old year off come since against go came right used take
		three states himself few house use during without again place American around however
		home small found Mrs thought went say part once general high upon school every don't
		does got united left number course war until always away something fact though water
		less public put think almost hand enough far took head yet government system better
		set told nothing night end why called didn't eyes find going look asked later knew
		point next program city business give group toward young days let room president side
		social given present several order national possible rather second face per among
		form important often things looking early white case John become large big need four
		within felt along children saw best church ever least power development light`)
	mixedSnippets = []string{
		"Привет, как дела? Сегодня хорошая погода.", "你好，世界！今天我们讨论分词器的性能。",
		"こんにちは、トークナイザーのテストです。", "안녕하세요, 반갑습니다.", "مرحبا بالعالم، كيف حالك؟",
		"नमस्ते दुनिया, आप कैसे हैं?", "Γειά σου κόσμε", "שלום עולם", "Xin chào thế giới",
		"👍🏽 🎉 👩‍💻 🇯🇵 ❤️", "func f(x int) int { return x*x + 42 }", "x = [i**2 for i in range(10)]",
		"Größe, Straße, naïve café, façade", "ยินดีต้อนรับ", "Καλημέρα", "₿ 3.14 € 1,000,000",
	}
)

// benchText builds about size bytes of English (mixed false) or of text
// that switches between scripts, emoji and code (mixed true), the same on
// every run.
func benchText(size int, mixed bool) string {
	rng := rand.New(rand.NewPCG(42, 7))
	var b strings.Builder
	for b.Len() < size {
		if mixed && rng.IntN(3) == 0 {
			b.WriteString(mixedSnippets[rng.IntN(len(mixedSnippets))])
		} else {
			n := 6 + rng.IntN(14)
			for i := 0; i < n; i++ {
				w := englishWords[rng.IntN(len(englishWords))]
				if i == 0 {
					w = strings.ToUpper(w[:1]) + w[1:]
				}
				b.WriteString(w)
				if i < n-1 {
					b.WriteByte(' ')
				}
			}
			b.WriteString([]string{".", ",", "?", "!", ";", ": 1984", " (see p. 27)."}[rng.IntN(7)])
		}
		b.WriteString([]string{" ", " ", " ", "\n", "\n\n"}[rng.IntN(5)])
	}
	return b.String()
}

var benchCases = []struct {
	tokenizer string
	mixed     bool
}{{"qwen3", false}, {"qwen3", true}, {"llama3_1", false}, {"llama3_1", true}, {"gemma3", false}}

func benchName(tok string, mixed bool) string {
	if mixed {
		return tok + "/mixed"
	}
	return tok + "/english"
}

// BenchmarkEncode reports tokens/s encoding a 100 KB text, with the word
// cache warm from the previous run (as in a server) and emptied before
// each run (cold).
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCases {
		for _, cold := range []bool{false, true} {
			name := benchName(c.tokenizer, c.mixed)
			if cold {
				name += "/cold"
			}
			b.Run(name, func(b *testing.B) { benchEncode(b, c.tokenizer, c.mixed, cold) })
		}
	}
}

func benchEncode(b *testing.B, tokenizer string, mixed, cold bool) {
	tk := loadNamed(b, tokenizer)
	text := benchText(100_000, mixed)
	n := len(tk.Encode(text, false))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		if cold {
			tk.model.cache.init(cacheCapacity)
		}
		tk.Encode(text, false)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkPythonTokenizers runs testdata/bench_hf.py (the tokenizers
// library) on the same texts, for comparison; it needs the project venv.
func BenchmarkPythonTokenizers(b *testing.B) {
	py := testutil.Python(b)
	if py == "" {
		b.Skip("no Python venv (.venv or LMX_PYTHON) with tokenizers")
	}
	for _, c := range benchCases {
		b.Run(benchName(c.tokenizer, c.mixed), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "text.txt")
			if err := os.WriteFile(path, []byte(benchText(100_000, c.mixed)), 0o644); err != nil {
				b.Fatal(err)
			}
			file := filepath.Join(tokenizerDir(b, c.tokenizer), "tokenizer.json")
			sum := 0.0
			for b.Loop() {
				sum += pythonRate(b, py, file, path)
			}
			b.ReportMetric(sum/float64(b.N), "tokens/s")
		})
	}
}

// pythonRate runs bench_hf.py once and returns the tokens/s it prints.
func pythonRate(b *testing.B, py, tokenizerFile, textFile string) float64 {
	out, err := exec.Command(py, "testdata/bench_hf.py", tokenizerFile, textFile).CombinedOutput()
	if err != nil {
		b.Skipf("bench_hf.py: %v\n%s", err, out)
	}
	rate, err := strconv.ParseFloat(string(bytes.TrimSpace(out)), 64)
	if err != nil {
		b.Fatalf("bench_hf.py printed %q", out)
	}
	return rate
}

// BenchmarkLoad reports the time to load each fixture tokenizer.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"qwen3", "llama3_1", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			dir := tokenizerDir(b, name)
			for b.Loop() {
				if _, err := Load(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
