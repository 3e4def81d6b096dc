package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
)

// ErrNoLeader is returned while the stream has no leader.
var ErrNoLeader = errors.New("cluster: the stream has no leader")

// StreamLeader asks the cluster, through the given NATS client URLs, which
// node leads the LOCATIONS stream and returns its name.
func StreamLeader(ctx context.Context, clientURLs []string) (string, error) {
	nc, err := nats.Connect(strings.Join(clientURLs, ","), nats.Name("rtls-cluster-probe"), nats.Timeout(2*time.Second))
	if err != nil {
		return "", fmt.Errorf("cluster: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, fixstream.StreamName)
	if err != nil {
		return "", fmt.Errorf("cluster: stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("cluster: stream info: %w", err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", ErrNoLeader
	}
	return info.Cluster.Leader, nil
}

// waitFor polls f every interval until it succeeds, returns a backoffStop,
// or ctx ends.
func waitFor(ctx context.Context, interval time.Duration, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			return stop.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}
