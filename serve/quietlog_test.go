package serve_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

func TestQuietRepeatsCountsWhatItLeavesOut(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(serve.QuietRepeats(slog.NewJSONHandler(&buf, nil), 50*time.Millisecond)).With("app", "album")
	for range 1000 {
		log.Warn("upload not received", "err", "timeout")
		log.Info("request") // info lines are never held back
	}
	log.Warn("another kind")
	time.Sleep(60 * time.Millisecond)
	log.Warn("upload not received", "err", "timeout")

	var warns []map[string]any
	infos := 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["level"] == "INFO" {
			infos++
			continue
		}
		warns = append(warns, m)
	}
	if infos != 1000 || len(warns) != 3 {
		t.Fatalf("%d info and %d warn lines:\n%s", infos, len(warns), buf.String()[:2000])
	}
	if warns[0]["msg"] != "upload not received" || warns[1]["msg"] != "another kind" || warns[2]["repeated"] != float64(999) || warns[2]["app"] != "album" {
		t.Fatalf("warn lines: %v", warns)
	}
}
