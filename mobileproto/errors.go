package mobileproto

import (
	"errors"
	"fmt"
)

// Code is the stable, machine-readable code of an error frame. Codes are part
// of the protocol: new codes may be added, existing ones are never renamed.
type Code string

// The error codes a node sends. See PROTOCOL.md for when each is used.
const (
	// CodeBadRequest: the frame is not a JSON object, or a field has the
	// wrong type or an invalid value (other than a location or an id).
	CodeBadRequest Code = "bad_request"
	// CodeInvalidLocation: latitude/longitude missing, not finite or out of
	// range, or an optional fix field (accuracy, speed, heading, ts) invalid.
	CodeInvalidLocation Code = "invalid_location"
	// CodeInvalidID: a driver or client id is empty, too long, or contains
	// characters other than ASCII letters, digits, '-' and '_'.
	CodeInvalidID Code = "invalid_id"
	// CodeUnknownType: the frame's "type" is missing or not known.
	CodeUnknownType Code = "unknown_type"
	// CodeForbidden: the identity may not do this (a rider sending a
	// location, a driver tracking, a driver publishing as someone else).
	CodeForbidden Code = "forbidden"
	// CodeUnauthorized: the connection could not be authenticated. Sent
	// before the node closes the socket with CloseUnauthorized.
	CodeUnauthorized Code = "unauthorized"
	// CodeTooLarge: the frame exceeds the node's frame limit. The node
	// closes the socket with CloseTooLarge (1009).
	CodeTooLarge Code = "too_large"
	// CodeRateLimited: the connection sends frames faster than allowed;
	// the frame was dropped. Retry later.
	CodeRateLimited Code = "rate_limited"
	// CodeLimitExceeded: a per-connection limit was reached (for example
	// the number of drivers one connection may track).
	CodeLimitExceeded Code = "limit_exceeded"
	// CodeUnavailable: the node could not store the fix in time (for example
	// while the cluster elects a new leader). The fix may be retried with the
	// same seq; the node stores it once.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: an unexpected failure in the node.
	CodeInternal Code = "internal"
	// CodeTokenExpired: the connection's token has expired (or the token
	// offered has). The node closes with CloseTokenExpired; get a fresh
	// token and reconnect.
	CodeTokenExpired Code = "token_expired"
	// CodeSessionReplaced: the same driver connected again (on this node
	// or another): the newest connection wins and this one is closed with
	// CloseSessionReplaced.
	CodeSessionReplaced Code = "session_replaced"
	// CodeInvalidCursor: a track-driver's since is beyond the newest cursor
	// of the stream: the cursor is from another epoch (the stream was
	// created again) or made up. Track with history instead.
	CodeInvalidCursor Code = "invalid_cursor"
	// CodeOverloaded: the node is at capacity and did not store the fix;
	// RetryAfter says how long to wait. Send your newest fix again then
	// (older ones are not worth sending: latest wins).
	CodeOverloaded Code = "overloaded"
	// CodeOutOfOrder: the fix is older (by seq) than one of the driver's
	// fixes already stored; it is not stored, so that a driver's fixes stay
	// in the driver's order. Do not send it again.
	CodeOutOfOrder Code = "out_of_order"
	// CodeTooManyConnections: this identity or this address already has as
	// many connections as a node allows; closed with CloseTooManyConnections.
	CodeTooManyConnections Code = "too_many_connections"
)

// Temporary reports whether a request that failed with this code may succeed
// if sent again unchanged later.
func (c Code) Temporary() bool {
	switch c {
	case CodeRateLimited, CodeUnavailable, CodeInternal, CodeOverloaded:
		return true
	}
	return false
}

// Error is an error frame received from, or to be sent by, a node. It
// implements error; use errors.As to get it from a Client call, and compare
// Code, never Message.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Seq is the seq of the send-location that failed, if it had one.
	Seq uint64 `json:"seq,omitempty"`
	// ID is the id of the request that failed, if it had one.
	ID string `json:"id,omitempty"`
	// Driver is the driver the failed request was about, if any.
	Driver string `json:"driver,omitempty"`
	// RetryAfter, in milliseconds, is how long to wait before trying again
	// (overloaded, rate_limited, unavailable); 0 when the node gives no hint.
	RetryAfter int64 `json:"retry_after,omitempty"`
	// cause is set on errors the client makes itself (a request whose
	// connection was lost), for errors.Is.
	cause error
}

// Unwrap returns the client-side cause of an error the client made itself.
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string {
	return fmt.Sprintf("mobileproto: %s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Temporary reports whether the failed request may be retried unchanged.
func (e *Error) Temporary() bool { return e.Code.Temporary() }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WebSocket close codes a node uses. Codes 1000–1015 are defined by RFC 6455;
// 4000–4999 are rtls's own.
const (
	// CloseNormal: the client asked to close.
	CloseNormal = 1000
	// CloseGoingAway: the node is shutting down or restarting. Reconnect,
	// preferably to another node, and resume with your cursors.
	CloseGoingAway = 1001
	// ClosePolicyViolation: the client broke the protocol badly enough to
	// be disconnected. Do not reconnect without fixing the client.
	ClosePolicyViolation = 1008
	// CloseTooLarge: a frame exceeded the node's frame limit (too_large).
	CloseTooLarge = 1009
	// CloseInternal: the node hit an unexpected error. Reconnect.
	CloseInternal = 1011
	// CloseTryAgainLater: the node is overloaded or not ready. Reconnect
	// after a backoff.
	CloseTryAgainLater = 1013
	// CloseUnauthorized: authentication failed. Reconnecting with the same
	// credentials will fail again.
	CloseUnauthorized = 4001
	// CloseTokenExpired: the token expired (token_expired). Reconnect with
	// a fresh token.
	CloseTokenExpired = 4003
	// CloseSlowClient: the client did not read its acks and errors fast
	// enough and its bounded queue overflowed. Reconnect.
	CloseSlowClient = 4008
	// CloseSessionReplaced: a newer connection of the same driver took over
	// (session_replaced). Do not reconnect automatically: the app is signed
	// in elsewhere.
	CloseSessionReplaced = 4009
	// CloseTooManyConnections: this identity or address has too many
	// connections (too_many_connections). Reconnect after a backoff, once
	// others have closed.
	CloseTooManyConnections = 4029
)

// Reconnectable reports whether a client should reconnect after the node
// closed the socket with code.
func Reconnectable(code int) bool {
	switch code {
	case ClosePolicyViolation, CloseTooLarge, CloseUnauthorized, CloseSessionReplaced:
		return false
	}
	return true
}

// Sentinel errors of the Go client.
var (
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("mobileproto: client closed")
	// ErrInvalidOption is wrapped by Dial when an option is invalid.
	ErrInvalidOption = errors.New("mobileproto: invalid option")
	// ErrNotDriver is returned when a driver-only call is made by a
	// client whose identity is not a driver.
	ErrNotDriver = errors.New("mobileproto: not a driver connection")
	// ErrHandshake is wrapped when the node refuses the WebSocket handshake.
	ErrHandshake = errors.New("mobileproto: handshake failed")
)
