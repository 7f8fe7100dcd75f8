package library

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

func TestValidateRefusesEscapes(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"mlx-community/Qwen3-0.6B-4bit", ValidateRepoID("mlx-community/Qwen3-0.6B-4bit")},
		{"gpt2", ValidateRepoID("gpt2")},
		{"config.json", ValidateFileName("config.json")},
		{"nested/tokenizer.json", ValidateFileName("nested/tokenizer.json")},
		{"refs/pr/1", ValidateRevision("refs/pr/1")},
	}
	for _, tt := range tests {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			if tt.err != nil {
				t.Errorf("refused: %v", tt.err)
			}
		})
	}
	bad := map[string]error{
		"repo ../x":         ValidateRepoID("../x"),
		"repo org/../x":     ValidateRepoID("org/../x"),
		"repo a/b/c":        ValidateRepoID("a/b/c"),
		"repo /abs":         ValidateRepoID("/abs"),
		"repo a--b/c":       ValidateRepoID("a--b/c"),
		"repo back\\slash":  ValidateRepoID(`org\name`),
		"file ../../x":      ValidateFileName("../../etc/passwd"),
		"file a/../../x":    ValidateFileName("a/../../x"),
		"file /etc/passwd":  ValidateFileName("/etc/passwd"),
		"file back\\slash":  ValidateFileName(`..\..\x`),
		"file c:":           ValidateFileName("C:/x"),
		"file empty part":   ValidateFileName("a//b"),
		"file dot":          ValidateFileName("./x"),
		"revision ..":       ValidateRevision("../main"),
		"commit short":      ValidateCommit("abc"),
		"blob with slashes": ValidateBlobID("../" + strings.Repeat("a", 61)),
	}
	for name, err := range bad {
		t.Run("refuses "+name, func(t *testing.T) {
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("got %v, want ErrUnsafePath", err)
			}
		})
	}
}

func TestHubCacheDir(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	steps := []struct{ key, value, want string }{
		{"", "", "/home/u/.cache/huggingface/hub"},
		{"XDG_CACHE_HOME", "/xdg", "/xdg/huggingface/hub"},
		{"HF_HOME", "/hf", "/hf/hub"},
		{"HF_HUB_CACHE", "/hubcache", "/hubcache"},
	}
	for _, s := range steps {
		if s.key != "" {
			t.Setenv(s.key, s.value)
		}
		if got, _ := HubCacheDir(); got != s.want {
			t.Errorf("with %s=%s: %s, want %s", s.key, s.value, got, s.want)
		}
	}
}

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// putFile installs content as a blob of repo and links it from commit.
func putFile(t *testing.T, c Cache, repo, commit, name, blob, content string) {
	t.Helper()
	path, err := c.PrepareBlobDir(repo, blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallBlob(repo, blob); err != nil {
		t.Fatal(err)
	}
	if err := c.LinkSnapshot(repo, commit, name, blob); err != nil {
		t.Fatal(err)
	}
}

func TestLinkRefusesSymlinkedDestination(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	outside := t.TempDir()
	repo := "org/model"
	putFile(t, c, repo, commitA, "config.json", strings.Repeat("1", 40), "{}")
	if err := os.Symlink(outside, filepath.Join(c.RepoDir(repo), "snapshots", commitB)); err != nil {
		t.Fatal(err)
	}
	err := c.LinkSnapshot(repo, commitB, "config.json", strings.Repeat("1", 40))
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("link through a planted symlink: %v, want ErrUnsafePath", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote outside the cache: %v", entries)
	}
	if err := c.LinkSnapshot(repo, commitA, "../escape", strings.Repeat("1", 40)); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("link ../escape: %v", err)
	}
}

func TestDeleteSnapshotKeepsSharedBlobs(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	repo := "org/model"
	shared, onlyA, onlyB := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	putFile(t, c, repo, commitA, "model.safetensors", shared, "shared weights")
	putFile(t, c, repo, commitA, "config.json", onlyA, "config A")
	putFile(t, c, repo, commitB, "model.safetensors", shared, "shared weights")
	putFile(t, c, repo, commitB, "sub/config.json", onlyB, "config B")
	if err := c.WriteRef(repo, "main", commitA); err != nil {
		t.Fatal(err)
	}
	freed, err := c.DeleteSnapshot(repo, commitA)
	if err != nil {
		t.Fatal(err)
	}
	if freed != int64(len("config A")) {
		t.Errorf("freed %d bytes, want %d", freed, len("config A"))
	}
	for blob, want := range map[string]bool{shared: true, onlyA: false, onlyB: true} {
		if got := c.HasBlob(repo, blob); got != want {
			t.Errorf("blob %s… present=%v, want %v", blob[:4], got, want)
		}
	}
	if _, err := c.ReadRef(repo, "main"); err == nil {
		t.Errorf("refs/main still points at the deleted snapshot")
	}
	data, err := os.ReadFile(filepath.Join(c.SnapshotDir(repo, commitB), "sub", "config.json"))
	if err != nil || string(data) != "config B" {
		t.Errorf("other snapshot broken: %q %v", data, err)
	}
	if _, err := c.DeleteSnapshot(repo, commitB); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.RepoDir(repo)); !os.IsNotExist(err) {
		t.Errorf("repo folder left after its last snapshot: %v", err)
	}
}

func TestScanFolderOfFixtures(t *testing.T) {
	models := filepath.Join(testutil.Fixtures(t), "models")
	found, err := Library{Cache: Cache{Dir: t.TempDir()}, Folders: []string{models}}.Scan()
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(models)
	if len(found) != len(entries) {
		t.Fatalf("found %d models in %s, want %d", len(found), models, len(entries))
	}
	for _, m := range found {
		t.Run(filepath.Base(m.Path), func(t *testing.T) {
			var cfg struct {
				ModelType string `json:"model_type"`
			}
			raw, _ := os.ReadFile(filepath.Join(m.Path, "config.json"))
			json.Unmarshal(raw, &cfg)
			if m.Architecture != cfg.ModelType || m.Source != SourceFolder || m.Params == 0 {
				t.Errorf("classified %+v, want architecture %s", m, cfg.ModelType)
			}
			_, tokErr := os.Stat(filepath.Join(m.Path, "tokenizer.json"))
			if m.Supported != (tokErr == nil) {
				t.Errorf("supported=%v (%s) but tokenizer.json present=%v", m.Supported, m.Reason, tokErr == nil)
			}
		})
	}
}

func TestUnsupportedArchitectureIsExplained(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"bert"}`), 0o644)
	src, _ := os.ReadFile(filepath.Join(testutil.Fixtures(t), "models", "llama", "model.safetensors"))
	os.WriteFile(filepath.Join(dir, "model.safetensors"), src, 0o644)
	m := Classify(dir, "llama", "qwen3")
	if m.Supported || !strings.Contains(m.Reason, `"bert"`) || !strings.Contains(m.Reason, "qwen3") {
		t.Errorf("bert: supported=%v reason %q", m.Supported, m.Reason)
	}
}

func TestParamsMatchMLXLM(t *testing.T) {
	py := testutil.Python(t)
	switch {
	case py == "" && os.Getenv("LMX_REQUIRE_PY") == "1":
		t.Fatal("LMX_REQUIRE_PY=1 but there is no .venv (or LMX_PYTHON) with mlx-lm")
	case py == "":
		t.Skip("no project venv (.venv or LMX_PYTHON) with mlx-lm==0.32.2 and mlx-cpu")
	}
	src := filepath.Join(testutil.Fixtures(t), "models", "llama")
	dst := t.TempDir()
	cmd := exec.Command(py, "testdata/mlx_params.py", src, dst)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mlx-lm quantize: %v\n%s", err, out)
	}
	var want struct{ Float, Quantized int64 }
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &want); err != nil {
		t.Fatalf("parse %q: %v", out, err)
	}
	if got := Classify(src).Params; got != want.Float {
		t.Errorf("float params %d, mlx-lm says %d", got, want.Float)
	}
	q := Classify(dst)
	if q.Params != want.Quantized {
		t.Errorf("quantized params %d, mlx-lm says %d", q.Params, want.Quantized)
	}
	if q.Quant != (Quantization{Bits: 4, GroupSize: 32, Mode: "affine"}) {
		t.Errorf("quantization %+v", q.Quant)
	}
}

func TestMissingShardIsReported(t *testing.T) {
	dir := t.TempDir()
	fx := filepath.Join(testutil.Fixtures(t), "models", "llama")
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, _ := os.ReadFile(filepath.Join(fx, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	index := `{"weight_map":{"a":"model.safetensors","b":"model-00002-of-00002.safetensors"}}`
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(index), 0o644)
	if m := Classify(dir); m.Supported || !strings.Contains(m.Reason, "model-00002-of-00002") {
		t.Errorf("incomplete shards: supported=%v reason %q", m.Supported, m.Reason)
	}
}
