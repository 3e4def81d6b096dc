package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

// families are the metric families the node must expose (issue 14's
// list): connections by role; fixes received, stored, acked, refused by
// code; deliveries; latest-wins drops; gap fills; the two latency
// histograms; tracked drivers and live subscriptions; in flight; the
// stream as this node sees it; the embedded NATS server's figures.
var families = []string{
	"rtls_node_ready", "rtls_connections", "rtls_connections_refused_total",
	"rtls_fixes_received_total", "rtls_fixes_stored_total", "rtls_fixes_acked_total", "rtls_fixes_refused_total",
	"rtls_error_frames_total", "rtls_publish_retries_total", "rtls_publish_pending",
	"rtls_fixes_delivered_total", "rtls_fixes_replayed_total", "rtls_fixes_conflated_total",
	"rtls_gaps_filled_total", "rtls_gaps_lost_total", "rtls_bus_messages_rejected_total",
	"rtls_fix_ack_seconds", "rtls_fix_delivery_seconds",
	"rtls_tracked_drivers", "rtls_live_subscriptions", "rtls_drivers", "rtls_cluster_peers",
	"rtls_stream_messages", "rtls_stream_bytes", "rtls_stream_last_sequence", "rtls_stream_is_leader",
	"rtls_stream_healthy", "rtls_stream_info_age_seconds", "rtls_stream_replica_lag", "rtls_stream_replica_current",
	"rtls_nats_connections", "rtls_nats_routes", "rtls_nats_routes_configured", "rtls_nats_slow_consumers_total",
	"rtls_nats_stalled_clients_total", "rtls_nats_in_msgs_total", "rtls_nats_out_msgs_total", "rtls_nats_subscriptions",
	"go_goroutines", "process_resident_memory_bytes",
}

// scrape reads url's metrics; header, if set, is the Authorization.
func scrape(url, header string) (map[string]*dto.MetricFamily, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// value is the value of the family's metric whose labels include labels
// (name, value pairs); histograms give their count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func startWithAdmin(t *testing.T, mutate ...func(*node.Config)) *node.Node {
	return testnode.Start(t, append([]func(*node.Config){func(c *node.Config) { c.AdminAddr = "127.0.0.1:0" }}, mutate...)...)
}

// /metrics exposes every family, and the counters move when a driver
// sends, a rider receives and a bad fix is refused.
func TestMetricsMoveWithTraffic(t *testing.T) {
	n := startWithAdmin(t)
	url := "http://" + n.AdminAddr() + "/metrics"
	before, err := scrape(url, "")
	if err != nil {
		t.Fatal(err)
	}
	get := func(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
		t.Helper()
		v, ok := value(fams, name, labels...)
		if !ok {
			t.Fatalf("no %s%v in the scrape", name, labels)
		}
		return v
	}

	rider := dial(t, n, mobileproto.RoleRider, "r-m")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := rider.Track(ctx, "d-m", mobileproto.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	driver := dial(t, n, mobileproto.RoleDriver, "d-m")
	sendFixes(t, driver, 1, 5)
	receive(t, rider, 5)
	bad := fix(6)
	bad.Latitude = 91
	if _, err := driver.SendLocation(ctx, bad); err == nil {
		t.Fatal("a latitude of 91 was acked")
	}

	var after map[string]*dto.MetricFamily
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if after, err = scrape(url, ""); err != nil {
			return err
		}
		for _, f := range families {
			if after[f] == nil {
				return errf("no family %s", f)
			}
		}
		// The stream guard refreshes the stream's figures every 2 s.
		if v, _ := value(after, "rtls_stream_messages"); v < 5 {
			return errf("rtls_stream_messages %v", v)
		}
		return nil
	})
	for _, c := range []struct {
		name   string
		labels []string
		grew   float64
	}{
		{"rtls_fixes_received_total", nil, 5},
		{"rtls_fixes_stored_total", nil, 5},
		{"rtls_fixes_acked_total", nil, 5},
		{"rtls_fixes_delivered_total", nil, 5},
		{"rtls_fix_ack_seconds", nil, 5},
		{"rtls_fix_delivery_seconds", nil, 5},
		{"rtls_fixes_refused_total", []string{"code", "invalid_location"}, 1},
		{"rtls_error_frames_total", []string{"code", "invalid_location"}, 1},
	} {
		was, _ := value(before, c.name, c.labels...)
		if now := get(after, c.name, c.labels...); now-was < c.grew {
			t.Errorf("%s%v went from %v to %v, want at least +%v", c.name, c.labels, was, now, c.grew)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rtls_connections", []string{"role", "driver"}, 1},
		{"rtls_connections", []string{"role", "rider"}, 1},
		{"rtls_tracked_drivers", nil, 1},
		{"rtls_live_subscriptions", nil, 1},
		{"rtls_drivers", []string{"state", "online"}, 1},
		{"rtls_node_ready", nil, 1},
		{"rtls_stream_is_leader", nil, 1},
		{"rtls_stream_healthy", nil, 1},
	} {
		if v := get(after, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if v := get(after, "rtls_nats_connections"); v < 1 {
		t.Errorf("rtls_nats_connections = %v: the node's own connection at least", v)
	}
	// No metric has a per-driver label: the driver's id appears nowhere.
	for name, f := range after {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "d-m") || strings.Contains(l.GetValue(), "r-m") {
					t.Errorf("%s has a label %s=%q: a client's id", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// /v1/status says what a script or a dashboard's header needs.
func TestStatusEndpoint(t *testing.T) {
	n := startWithAdmin(t)
	d := dial(t, n, mobileproto.RoleDriver, "d-s")
	sendFixes(t, d, 1, 3)
	var st node.Status
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		resp, err := http.Get("http://" + n.AdminAddr() + "/v1/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/json" {
			return errf("%s, %s", resp.Status, ct)
		}
		st = node.Status{}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		if st.Stream == nil || st.Stream.LastSeq < 3 {
			return errf("stream %+v", st.Stream)
		}
		return nil
	})
	if st.Node != "n1" || st.State != "ready" || st.Epoch == "" || st.Epoch != n.Epoch() {
		t.Errorf("status %+v", st)
	}
	if st.Connections.Drivers != 1 || st.Connections.Riders != 0 {
		t.Errorf("connections %+v", st.Connections)
	}
	if st.Stream.Leader != "n1" || len(st.Stream.Replicas) != 1 || !st.Stream.Replicas[0].Current || st.Stream.Messages < 3 {
		t.Errorf("stream %+v", st.Stream)
	}
	if len(st.Peers) != 1 || st.Peers[0].Node != "n1" || !st.Peers[0].Alive {
		t.Errorf("peers %+v", st.Peers)
	}
	if st.Drivers["online"] != 1 {
		t.Errorf("drivers %+v", st.Drivers)
	}
}

// With a token, every admin request needs it; production refuses admin
// endpoints open to the network without one.
func TestAdminToken(t *testing.T) {
	const token = "0123456789abcdef-admin"
	n := startWithAdmin(t, func(c *node.Config) { c.AdminToken = token })
	base := "http://" + n.AdminAddr()
	for _, path := range []string{"/metrics", "/v1/status", "/readyz", "/healthz"} {
		for _, h := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token} {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %q: %s, want 401 with WWW-Authenticate", path, h, resp.Status)
			}
		}
	}
	if _, err := scrape(base+"/metrics", "Bearer "+token); err != nil {
		t.Errorf("with the token: %v", err)
	}

	secrets := testnode.NewSecrets(t)
	for _, c := range []struct {
		addr, token string
		err         error
	}{
		{"0.0.0.0:0", "", node.ErrInsecure},
		{"0.0.0.0:0", "short", node.ErrInvalidConfig},
		{"0.0.0.0:0", token, nil},
		{"127.0.0.1:0", "", nil},
	} {
		cfg := node.Config{Name: "n1", DataDir: t.TempDir(), AdminAddr: c.addr, AdminToken: c.token}
		secrets.Configure(&cfg)
		_, err := node.New(cfg)
		if !errors.Is(err, c.err) && (c.err != nil || err != nil) {
			t.Errorf("admin %s token %q: %v, want %v", c.addr, c.token, err, c.err)
		}
		if c.err != nil && err == nil {
			t.Errorf("admin %s token %q accepted", c.addr, c.token)
		}
	}
}

// Scrapes while the node shuts down get an answer or a refused
// connection, never a hang; the node stops.
func TestScrapeDuringShutdown(t *testing.T) {
	n, err := node.New(node.Config{Name: "n1", DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Authenticator: auth.Dev(), Logger: testnode.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d := dial(t, n, mobileproto.RoleDriver, "d-x")
	sendFixes(t, d, 1, 3)
	url := "http://" + n.AdminAddr() + "/metrics"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered, refused := 0, 0
	var other []error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := scrape(url, "")
				mu.Lock()
				switch {
				case err == nil:
					answered++
				case strings.Contains(err.Error(), "connection refused"), strings.Contains(err.Error(), "EOF"), strings.Contains(err.Error(), "connection reset"):
					refused++
				default:
					other = append(other, err)
				}
				mu.Unlock()
			}
		}()
	}
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if answered < 4 {
			return errf("%d scrapes answered", answered)
		}
		return nil
	})
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if err := n.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	close(stop)
	wg.Wait()
	if len(other) > 0 {
		t.Errorf("scrapes failed otherwise than refused: %v", other[:min(3, len(other))])
	}
	if _, err := scrape(url, ""); err == nil {
		t.Error("the admin listener answers after Shutdown")
	}
	t.Logf("%d scrapes answered, %d refused", answered, refused)
}

// The Grafana dashboard in the repository queries only metrics the node
// exposes.
func TestGrafanaDashboardQueriesExistingMetrics(t *testing.T) {
	data, err := os.ReadFile("../deploy/grafana/rtls.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON Grafana can load: %v", err)
	}
	n := startWithAdmin(t)
	fams, err := scrape("http://"+n.AdminAddr()+"/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for name, f := range fams {
		exposed[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exposed[name+s] = true
			}
		}
	}
	metric := regexp.MustCompile(`\b(rtls|go|process)_[a-z0-9_]+`)
	queried := map[string]bool{}
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				continue
			}
			exprs++
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				queried[m] = true
				if !exposed[m] {
					t.Errorf("panel %q queries %s, which the node does not expose", p.Title, m)
				}
			}
		}
	}
	if exprs < 10 || len(queried) < 15 {
		t.Fatalf("the dashboard has %d queries of %d metrics; it should show most of them", exprs, len(queried))
	}
	var names []string
	for m := range queried {
		names = append(names, m)
	}
	sort.Strings(names)
	t.Logf("%d panels query %v", len(dash.Panels), names)
}
