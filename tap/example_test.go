package tap_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/rtls-io/rtls/tap"
)

// A tap of task cluster's analytics identity, appending JSON lines to a
// file until interrupted, and resuming after the file's last fix when run
// again.
func ExampleNew() {
	out, err := tap.Append("fixes.jsonl", tap.JSONLines)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer out.Close()
	t, err := tap.New(tap.Config{
		URLs:         []string{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"},
		NKeySeedFile: "rtls-data/secrets/analytics.nk",
		Consumer:     "warehouse",
		Output:       out, // its format, and its last cursor to skip up to
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := t.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	st := t.Stats()
	fmt.Printf("%d fixes written, %d duplicates skipped, %d invalid\n", st.Written, st.Duplicates, st.Invalid)
}
