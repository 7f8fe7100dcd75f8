package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestResponsesRoundTripAndDelete(t *testing.T) {
	db, _ := openTemp(t)
	id, err := NewResponseID()
	if err != nil || !strings.HasPrefix(id, "resp_") {
		t.Fatalf("NewResponseID = %q, %v", id, err)
	}
	rec := ResponseRecord{ID: id, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Body: json.RawMessage(`{"id":"` + id + `"}`), Conversation: json.RawMessage(`[{"role":"user","content":"hi"}]`)}
	if err := db.SaveResponse(rec); err != nil {
		t.Fatal(err)
	}
	got, err := db.Response(id)
	if err != nil || string(got.Body) != string(rec.Body) || string(got.Conversation) != string(rec.Conversation) || !got.CreatedAt.Equal(rec.CreatedAt) {
		t.Fatalf("Response = %+v, %v; want %+v", got, err, rec)
	}
	if err := db.DeleteResponse(id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Response(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Response after delete: %v, want ErrNotFound", err)
	}
	if err := db.DeleteResponse(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

func TestResponsesEvictOldest(t *testing.T) {
	db, _ := openTemp(t)
	save := func(i, size, maxCount, maxBytes int) string {
		t.Helper()
		id := fmt.Sprintf("resp_%04d", i) // sorts by i, as NewResponseID sorts by time
		body, _ := json.Marshal(strings.Repeat("x", size))
		if err := db.saveResponse(ResponseRecord{ID: id, Body: body}, maxCount, maxBytes); err != nil {
			t.Fatal(err)
		}
		return id
	}
	kept := func(id string) bool {
		_, err := db.Response(id)
		return err == nil
	}
	for i := range 5 {
		save(i, 10, 3, 1<<20)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if got := kept(fmt.Sprintf("resp_%04d", i)); got != want {
			t.Errorf("count bound: response %d kept = %v, want %v", i, got, want)
		}
	}
	// A byte bound of about two records keeps the two newest.
	for i := 10; i < 13; i++ {
		save(i, 1000, 100, 2500)
	}
	if !kept("resp_0012") || !kept("resp_0011") || kept("resp_0010") || kept("resp_0004") {
		t.Errorf("byte bound: kept 0012 %v, 0011 %v, 0010 %v, 0004 %v; want true, true, false, false",
			kept("resp_0012"), kept("resp_0011"), kept("resp_0010"), kept("resp_0004"))
	}
	// A record larger than the bound is still kept, alone.
	huge := save(20, 5000, 100, 2500)
	if !kept(huge) || kept("resp_0012") {
		t.Errorf("oversized record: kept %v, previous kept %v; want true, false", kept(huge), kept("resp_0012"))
	}
}
