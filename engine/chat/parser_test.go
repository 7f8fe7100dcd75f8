package chat

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// call builds an expected tool call without an id.
func call(name, args string) ToolCall {
	return ToolCall{Type: "function", Function: FunctionCall{Name: name, Arguments: args}}
}

type parseCase struct {
	name   string
	format Format
	opts   Options
	output string // as the model writes it
	want   Result
}

var parseCases = []parseCase{
	// Qwen 2.5 / Qwen 3 / Hermes.
	{"hermes/one call", FormatHermes, Options{Thinking: true},
		"I'll check the weather.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>",
		Result{Content: "I'll check the weather.", ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris","unit":"c"}`)}}},
	{"hermes/two calls", FormatHermes, Options{},
		"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Asia/Tokyo\"}}\n</tool_call>",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris"}`), call("get_time", `{"tz":"Asia/Tokyo"}`)}}},
	{"hermes/think then call", FormatHermes, Options{Thinking: true},
		"<think>\nThe user wants the weather in Zürich. I should call get_weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich 日本\"}}\n</tool_call>",
		Result{Reasoning: "\nThe user wants the weather in Zürich. I should call get_weather.\n", ToolCalls: []ToolCall{call("get_weather", `{"city":"Zürich 日本"}`)}}},
	{"hermes/template opened think", FormatHermes, Options{Thinking: true, StartInReasoning: true},
		"Two plus two is four.\n</think>\n\nThe answer is 4.",
		Result{Reasoning: "Two plus two is four.\n", Content: "The answer is 4."}},
	{"hermes/malformed json is content", FormatHermes, Options{},
		"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}\n</tool_call>",
		Result{Content: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}\n</tool_call>"}},
	{"hermes/unclosed at end of output", FormatHermes, Options{},
		"<tool_call>\n{\"name\": \"list_files\", \"arguments\": {}}\n",
		Result{ToolCalls: []ToolCall{call("list_files", `{}`)}}},
	{"hermes/arguments as a string", FormatHermes, Options{},
		"<tool_call>\n{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 1, \\\"b\\\": 2}\"}\n</tool_call>",
		Result{ToolCalls: []ToolCall{call("add", `{"a": 1, "b": 2}`)}}},
	{"hermes/marker prefix in text", FormatHermes, Options{},
		"Use the <tool_ prefix and a < sign",
		Result{Content: "Use the <tool_ prefix and a < sign"}},
	{"hermes/text after call", FormatHermes, Options{},
		"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": [1, 2.5, null, true]}}\n</tool_call>\nDone.",
		Result{Content: "Done.", ToolCalls: []ToolCall{call("f", `{"x":[1,2.5,null,true]}`)}}},
	{"hermes/no name is content", FormatHermes, Options{},
		"<tool_call>{\"arguments\": {}}</tool_call>",
		Result{Content: "<tool_call>{\"arguments\": {}}</tool_call>"}},

	{"hermes/qwen3.5 xml call", FormatHermes, Options{Thinking: true, StartInReasoning: true},
		"The user wants a file listing.\n</think>\n\nLet me look.\n\n<tool_call>\n<function=list_files>\n<parameter=path>\n/tmp/a b\n</parameter>\n<parameter=depth>\n2\n</parameter>\n<parameter=pattern>\nline one\nline two\n</parameter>\n</function>\n</tool_call>",
		Result{Reasoning: "The user wants a file listing.\n", Content: "Let me look.", ToolCalls: []ToolCall{call("list_files", `{"path":"/tmp/a b","depth":2,"pattern":"line one\nline two"}`)}}},
	{"hermes/glm arg keys", FormatHermes, Options{Thinking: true},
		"<think>Need weather.</think><tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>3</arg_value></tool_call>",
		Result{Reasoning: "Need weather.", ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris","days":3}`)}}},
	{"hermes/xml without close is content", FormatHermes, Options{},
		"<tool_call>\n<function=f>\n<parameter=x>\n1\n</function>\n</tool_call>",
		Result{Content: "<tool_call>\n<function=f>\n<parameter=x>\n1\n</function>\n</tool_call>"}},

	// Llama 3.1 / 3.2 / 3.3.
	{"llama3/bare json", FormatLlama3, Options{},
		"{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris"}`)}}},
	{"llama3/python tag", FormatLlama3, Options{},
		"<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"San Francisco, CA\"}}",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"San Francisco, CA"}`)}}},
	{"llama3/two calls", FormatLlama3, Options{},
		"{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"get_time\", \"parameters\": {\"tz\": \"CET\"}}",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris"}`), call("get_time", `{"tz":"CET"}`)}}},
	{"llama3/leading newlines", FormatLlama3, Options{},
		"\n\n{\"type\": \"function\", \"name\": \"search\", \"parameters\": {\"q\": \"mlx\"}}",
		Result{ToolCalls: []ToolCall{call("search", `{"q":"mlx"}`)}}},
	{"llama3/plain answer", FormatLlama3, Options{},
		"The capital of France is Paris.",
		Result{Content: "The capital of France is Paris."}},
	{"llama3/json that is no call", FormatLlama3, Options{},
		"{\"answer\": 42}",
		Result{Content: "{\"answer\": 42}"}},
	{"llama3/json inside text", FormatLlama3, Options{},
		"Send {\"name\": \"x\", \"parameters\": {}} to the API.",
		Result{Content: "Send {\"name\": \"x\", \"parameters\": {}} to the API."}},
	{"llama3/truncated json", FormatLlama3, Options{},
		"{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par",
		Result{Content: "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par"}},

	// Mistral.
	{"mistral/array", FormatMistral, Options{},
		"[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}]",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris"}`), call("get_weather", `{"city":"Lyon"}`)}}},
	{"mistral/name args", FormatMistral, Options{},
		"[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\", \"unit\": \"c\"}",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris","unit":"c"}`)}}},
	{"mistral/name args twice", FormatMistral, Options{},
		"Checking both.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{\"tz\": [\"CET\", \"JST\"]}",
		Result{Content: "Checking both.", ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris"}`), call("get_time", `{"tz":["CET","JST"]}`)}}},
	{"mistral/mismatched bracket", FormatMistral, Options{},
		"[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}]",
		Result{Content: "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}]"}},
	{"mistral/marker prefix at end", FormatMistral, Options{},
		"See [TOOL_",
		Result{Content: "See [TOOL_"}},
	{"mistral/text after marker", FormatMistral, Options{},
		"[TOOL_CALLS] is a token",
		Result{Content: "[TOOL_CALLS]is a token"}},

	// Gemma 4.
	{"gemma/call", FormatGemma, Options{},
		"<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:3}<tool_call|>",
		Result{ToolCalls: []ToolCall{call("get_weather", `{"city":"Paris","days":3}`)}}},
	{"gemma/nested", FormatGemma, Options{},
		"Searching.<|tool_call>call:search{filters:{strict:true,tags:[<|\"|>a<|\"|>,<|\"|>b, c<|\"|>]},q:<|\"|>x: {y}<|\"|>}<tool_call|>",
		Result{Content: "Searching.", ToolCalls: []ToolCall{call("search", `{"filters":{"strict":true,"tags":["a","b, c"]},"q":"x: {y}"}`)}}},
	{"gemma/bare string is content", FormatGemma, Options{},
		"<|tool_call>call:get_weather{city:Paris}<tool_call|>",
		Result{Content: "<|tool_call>call:get_weather{city:Paris}<tool_call|>"}},

	// Reasoning only (DeepSeek-R1 style) and plain models.
	{"none/think", FormatNone, Options{Thinking: true},
		"<think>\nLet me count: r, r, r.\n</think>\n\nThere are 3 r's.",
		Result{Reasoning: "\nLet me count: r, r, r.\n", Content: "There are 3 r's."}},
	{"none/opened think never closed", FormatNone, Options{Thinking: true, StartInReasoning: true},
		"Still thinking when max_tokens hit",
		Result{Reasoning: "Still thinking when max_tokens hit"}},
	{"none/thinking off keeps tags", FormatNone, Options{},
		"<think>x</think>y",
		Result{Content: "<think>x</think>y"}},
	{"none/trailing newline kept", FormatNone, Options{},
		"Hello!\n",
		Result{Content: "Hello!\n"}},
}

// sequentialIDs makes ids call_1, call_2, ... so runs compare equal.
func sequentialIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("call_%d", n) }
}

func withIDs(opts Options) Options {
	opts.NewID = sequentialIDs()
	return opts
}

func stripIDs(r Result) Result {
	for i := range r.ToolCalls {
		r.ToolCalls[i].ID = ""
	}
	return r
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := stripIDs(Parse(tc.format, tc.opts, tc.output))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.output, got, tc.want)
			}
		})
	}
}

// feedChunks streams the chunks through a fresh parser.
func feedChunks(format Format, opts Options, chunks []string) Result {
	p := NewParser(format, withIDs(opts))
	var events []Event
	for _, c := range chunks {
		events = append(events, p.Feed(c)...)
	}
	return Collect(append(events, p.Finish()...))
}

// TestStreamingMatchesParse splits every case at every byte boundary (two
// chunks), feeds it byte by byte, and in random token-sized chunks; each
// must give what the whole text gives.
func TestStreamingMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			want := feedChunks(tc.format, tc.opts, []string{tc.output})
			check := func(chunks []string) {
				if got := feedChunks(tc.format, tc.opts, chunks); !reflect.DeepEqual(got, want) {
					t.Fatalf("chunks %q\n got %+v\nwant %+v", chunks, got, want)
				}
			}
			for i := 0; i <= len(tc.output); i++ {
				check([]string{tc.output[:i], tc.output[i:]})
			}
			check(strings.Split(tc.output, ""))
			check(bytesOf(tc.output))
			for range 20 {
				check(randomChunks(rng, tc.output))
			}
		})
	}
}

func bytesOf(s string) []string {
	out := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = s[i : i+1]
	}
	return out
}

// randomChunks cuts s into pieces of 1 to 6 bytes, like detokenized deltas.
func randomChunks(rng *rand.Rand, s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(1+rng.IntN(6), len(s))
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// TestHoldsPartialMarkers: a delta ending in a marker prefix emits nothing
// of the prefix until the next delta decides.
func TestHoldsPartialMarkers(t *testing.T) {
	cases := []struct {
		format Format
		opts   Options
		delta  string
		want   string
	}{
		{FormatHermes, Options{}, "Sure <tool_", "Sure"},
		{FormatHermes, Options{Thinking: true}, "Hmm <thi", "Hmm"},
		{FormatMistral, Options{}, "Ok [TOOL", "Ok"},
		{FormatGemma, Options{}, "Ok <|tool", "Ok"},
		{FormatLlama3, Options{}, "Ok <|python", "Ok"},
		{FormatLlama3, Options{}, "  ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.format.String()+"/"+tc.delta, func(t *testing.T) {
			got := Collect(NewParser(tc.format, tc.opts).Feed(tc.delta)).Content
			if got != tc.want {
				t.Errorf("Feed(%q) content %q, want %q", tc.delta, got, tc.want)
			}
		})
	}
}
