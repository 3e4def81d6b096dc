//go:build gui

// Command rtls-dashboard is the dispatcher's desktop dashboard: every
// active driver of an rtls cluster, live, on a map and in a list.
//
//	go run -tags gui ./dashboard/cmd/rtls-dashboard -nats nats://127.0.0.1:4222,nats://127.0.0.1:4223
//
// It is built only with the gui tag: the real Fyne window needs cgo and the
// OpenGL and X11 headers (see the README), and `go test ./...` must pass on
// a machine without them. Everything but this file is in package dashboard
// and tested there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2/app"

	"github.com/rtls-io/rtls/dashboard"
)

func main() {
	opts, err := dashboard.ParseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtls-dashboard:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := dashboard.Run(ctx, app.NewWithID("io.rtls.dashboard"), opts, logger); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-dashboard:", err)
		os.Exit(1)
	}
}
