package node

import (
	"context"
	"errors"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
)

// wireErrors maps the node's internal errors to error frames, in one place.
var wireErrors = []struct {
	err     error
	code    mobileproto.Code
	message string
}{
	{errPublishTimeout, mobileproto.CodeUnavailable, "the fix could not be stored in time; send it again with the same seq"},
	{errPublishClosed, mobileproto.CodeUnavailable, "the node is shutting down; send the fix again to another node"},
	{fixstream.ErrTimeout, mobileproto.CodeUnavailable, "history could not be read in time; track again"},
	{errRoomClosed, mobileproto.CodeUnavailable, "the node is shutting down; track again on another node"},
	{context.DeadlineExceeded, mobileproto.CodeUnavailable, "the node did not answer in time; try again"},
}

// wireError returns the error frame for err.
func wireError(err error) *mobileproto.Error {
	for _, w := range wireErrors {
		if errors.Is(err, w.err) {
			return mobileproto.Errorf(w.code, "%s", w.message)
		}
	}
	return mobileproto.Errorf(mobileproto.CodeInternal, "internal error")
}
