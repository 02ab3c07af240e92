package wmlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

func TestNew_LevelsAndFields(t *testing.T) {
	tests := []struct {
		name    string
		level   slog.Level
		log     func(l watermill.LoggerAdapter)
		want    string // substring of the output; "" means nothing is written
		wantLvl string
	}{
		{"trace is dropped at info", slog.LevelInfo, func(l watermill.LoggerAdapter) { l.Trace("sent", watermill.LogFields{"uuid": "1"}) }, "", ""},
		{"debug is dropped at info", slog.LevelInfo, func(l watermill.LoggerAdapter) { l.Debug("waiting", nil) }, "", ""},
		{"info is filed under debug, so dropped at info", slog.LevelInfo, func(l watermill.LoggerAdapter) { l.Info("handler started", nil) }, "", ""},
		{"info is written as debug at debug", slog.LevelDebug, func(l watermill.LoggerAdapter) { l.Info("handler started", nil) }, "handler started", "level=DEBUG"},
		{"trace is written at trace", watermill.LevelTrace, func(l watermill.LoggerAdapter) { l.Trace("sent", watermill.LogFields{"uuid": "1"}) }, "uuid=1", ""},
		{"errors are always written", slog.LevelError, func(l watermill.LoggerAdapter) { l.Error("publish failed", errors.New("boom"), nil) }, "error=boom", "level=ERROR"},
		{"fields of With are kept", slog.LevelDebug, func(l watermill.LoggerAdapter) {
			l.With(watermill.LogFields{"topic": "t1"}).Debug("subscribed", nil)
		}, "topic=t1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level})), "event-bus")
			tt.log(l)
			out := buf.String()
			if tt.want == "" {
				if out != "" {
					t.Fatalf("wrote %q, want nothing", out)
				}
				return
			}
			if !strings.Contains(out, tt.want) || !strings.Contains(out, "component=event-bus") || !strings.Contains(out, tt.wantLvl) {
				t.Fatalf("wrote %q, want %q, %q and component=event-bus", out, tt.want, tt.wantLvl)
			}
		})
	}
}
