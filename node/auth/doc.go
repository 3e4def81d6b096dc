// Package auth establishes who an app connection is. A node asks its
// Authenticator for the Identity of every WebSocket handshake: Tokens
// verifies the signed JWT that the delivery platform's back-end minted for
// the app (keys pinned to their algorithms, rotated by key id), and Dev is
// the explicitly named development mode that believes the URL query.
//
// Refusals are *Error values whose Reason may be shown to the client; they
// match ErrUnauthenticated (and ErrExpired for an expired token) with
// errors.Is. Mint and the key-file helpers let tools and tests create tokens
// (cmd rtls-token). Everything here is safe for concurrent use.
package auth
