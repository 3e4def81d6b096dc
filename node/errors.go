package node

import (
	"context"
	"errors"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
)

// wireErrors maps the node's errors to error frames, in one place. retry
// attaches the publisher's retry-after hint.
var wireErrors = []struct {
	err     error
	code    mobileproto.Code
	message string
	retry   bool
}{
	{errOverloaded, mobileproto.CodeOverloaded, "the node is at capacity and did not store this fix; send your newest fix again after retry_after ms", true},
	{errSuperseded, mobileproto.CodeOverloaded, "the node is at capacity: a newer fix of yours replaced this one before it was stored", true},
	{errOutOfOrder, mobileproto.CodeOutOfOrder, "a newer fix of this driver is already stored; this older one is not stored (do not send it again)", false},
	{errPublishTimeout, mobileproto.CodeUnavailable, "the fix could not be stored in time; send it again with the same seq", true},
	{errPublishClosed, mobileproto.CodeUnavailable, "the node is shutting down; send the fix again to another node", false},
	{fixstream.ErrTimeout, mobileproto.CodeUnavailable, "history could not be read in time; track again", false},
	{errRoomClosed, mobileproto.CodeUnavailable, "the node is shutting down; track again on another node", false},
	{context.DeadlineExceeded, mobileproto.CodeUnavailable, "the node did not answer in time; try again", false},
}

// jsWireErrors maps the JetStream errors a publish can meet that are not
// bugs: the cluster is short of resources or a stream is unwell.
var jsWireErrors = map[int]string{
	jsInsufficientRes:    "the cluster is short of resources; send the fix again later",
	jsStorageExceeded:    "the cluster's storage is full; send the fix again later",
	jsStoreFailed:        "the fix could not be written; send it again",
	jsStreamOffline:      "the stream is offline; send the fix again later",
	jsStreamNotFound:     "the stream is being created again; send the fix again",
	jsClusterUnavailable: "the cluster is not available; send the fix again later",
}

// wireError returns the error frame for err, which arose doing what for a
// client. Storage trouble is logged as a warning; anything unexpected is an
// internal error, logged with its cause.
func (n *Node) wireError(err error, what string) *mobileproto.Error {
	for _, w := range wireErrors {
		if errors.Is(err, w.err) {
			e := mobileproto.Errorf(w.code, "%s", w.message)
			if w.retry && n.pub != nil {
				e.RetryAfter = n.pub.retryAfter().Milliseconds()
			}
			return e
		}
	}
	var ce *cursorError
	if errors.As(err, &ce) {
		return mobileproto.Errorf(mobileproto.CodeInvalidCursor, "%s: the cursor is from another epoch of the stream, or made up; track with history instead", ce.Error())
	}
	var je *jsError
	if errors.As(err, &je) {
		if msg, ok := jsWireErrors[je.ErrCode]; ok {
			n.log.Warn("the stream refused a fix", "what", what, "err", err)
			e := mobileproto.Errorf(mobileproto.CodeUnavailable, "%s", msg)
			e.RetryAfter = n.pub.retryAfter().Milliseconds()
			return e
		}
	}
	n.log.Error("internal error answered to a client", "what", what, "err", err)
	return mobileproto.Errorf(mobileproto.CodeInternal, "internal error")
}
