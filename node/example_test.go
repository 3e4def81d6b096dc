package node_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

// A single node in the development mode, stopped gracefully on Ctrl-C.
func ExampleNew() {
	n, err := node.New(node.Config{
		Name:          "n1",
		DataDir:       "rtls-data/n1",
		HTTPAddr:      "127.0.0.1:8080", // ws://127.0.0.1:8080/v1/ws
		ClientAddr:    "127.0.0.1:4222", // for the dashboard and back-ends
		Authenticator: auth.Dev(),
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err) // wraps node.ErrInvalidConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := n.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("serving", n.WebSocketURL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.Shutdown(sctx) // clients are told to reconnect elsewhere (close 1001)
}
