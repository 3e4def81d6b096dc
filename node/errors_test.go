package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
)

// TestEveryEngineAnswerHasAWireCode: the table from the node's errors and
// JetStream's answers to the codes a client gets; only what nobody expects
// is internal, and that is logged with its cause.
func TestEveryEngineAnswerHasAWireCode(t *testing.T) {
	var logged strings.Builder
	n := &Node{log: slog.New(slog.NewTextHandler(&logged, nil))}
	n.pub = &publisher{}
	js := func(code, errCode int, desc string) error {
		return fmt.Errorf("publish: %w", &jsError{Code: code, ErrCode: errCode, Description: desc})
	}
	for _, tc := range []struct {
		name  string
		err   error
		code  mobileproto.Code
		retry bool
	}{
		{"node at capacity", errOverloaded, mobileproto.CodeOverloaded, true},
		{"superseded by a newer fix", errSuperseded, mobileproto.CodeOverloaded, true},
		{"JetStream 429 too many requests", errOverloaded, mobileproto.CodeOverloaded, true},
		{"older than a stored fix", errOutOfOrder, mobileproto.CodeOutOfOrder, false},
		{"no answer in time (timeouts, no responders, a leader election)", errPublishTimeout, mobileproto.CodeUnavailable, true},
		{"node stopping", errPublishClosed, mobileproto.CodeUnavailable, false},
		{"history read timed out", fmt.Errorf("read: %w", fixstream.ErrTimeout), mobileproto.CodeUnavailable, false},
		{"room closed", errRoomClosed, mobileproto.CodeUnavailable, false},
		{"context deadline", context.DeadlineExceeded, mobileproto.CodeUnavailable, false},
		{"insufficient resources", js(503, jsInsufficientRes, "insufficient resources"), mobileproto.CodeUnavailable, true},
		{"storage full", js(500, jsStorageExceeded, "insufficient storage resources available"), mobileproto.CodeUnavailable, true},
		{"store failed", js(503, jsStoreFailed, "disk error"), mobileproto.CodeUnavailable, true},
		{"stream offline", js(500, jsStreamOffline, "stream is offline"), mobileproto.CodeUnavailable, true},
		{"stream not found", js(404, jsStreamNotFound, "stream not found"), mobileproto.CodeUnavailable, true},
		{"cluster unavailable", js(503, jsClusterUnavailable, "JetStream system temporarily unavailable"), mobileproto.CodeUnavailable, true},
		{"message too large (a bug)", js(400, jsMessageTooLarge, "message size exceeds maximum allowed"), mobileproto.CodeInternal, false},
		{"unreadable ack (a bug)", fmt.Errorf("%w: eof", errBadAck), mobileproto.CodeInternal, false},
		{"anything else", errors.New("surprise"), mobileproto.CodeInternal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logged.Reset()
			e := n.wireError(tc.err, "a test")
			if e.Code != tc.code {
				t.Fatalf("code %s, want %s", e.Code, tc.code)
			}
			if e.Message == "" || (tc.retry && e.RetryAfter <= 0) || (!tc.retry && e.RetryAfter != 0) {
				t.Fatalf("frame %+v", e)
			}
			if internal := e.Code == mobileproto.CodeInternal; internal != strings.Contains(logged.String(), "level=ERROR") {
				t.Fatalf("internal %v, but the log says %q", internal, logged.String())
			}
			if e.Code == mobileproto.CodeInternal && !strings.Contains(logged.String(), tc.err.Error()) {
				t.Fatalf("the log does not name the cause: %q", logged.String())
			}
		})
	}
}
