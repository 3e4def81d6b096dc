package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// canary is a driver and its rider on a node, to show that the path from
// one to the other survives what a test does to the bus.
type canary struct {
	t    *testing.T
	d, r *mobileproto.Client
	seq  uint64
}

func newCanary(t *testing.T, s *testnode.Secrets, n *node.Node) *canary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithToken(s.Token("canary", mobileproto.RoleDriver, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithToken(s.Token("canary-r", mobileproto.RoleRider, time.Hour, "canary")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); r.Close() })
	if _, err := r.Track(ctx, "canary", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	return &canary{t: t, d: d, r: r}
}

// check sends one fix and waits for the rider to get it.
func (c *canary) check(when string) {
	c.t.Helper()
	c.seq++
	ack := sendFixes(c.t, c.d, c.seq, c.seq)[0]
	select {
	case l := <-c.r.Locations():
		if l.Cursor != ack.Cursor {
			c.t.Fatalf("%s: the canary rider got cursor %d, want %d", when, l.Cursor, ack.Cursor)
		}
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s: the canary rider got nothing", when)
	}
}

// busClient connects to n's client port as role ("" for no credentials)
// and records the asynchronous permission errors it gets.
func busClient(t *testing.T, n *node.Node, s *testnode.Secrets, role string) (*nats.Conn, func() []error) {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	opts := []nats.Option{nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	})}
	if role != "" {
		opts = append(opts, s.NATS(role))
	}
	nc, err := nats.Connect(n.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect as %q: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc, func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), errs...)
	}
}

// TestBusIdentities tries every forged action on the bus with the
// dispatcher's and the analytics identity, and without credentials.
func TestBusIdentities(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := startNode(t, s.Configure)
	c := newCanary(t, s, n)
	c.check("at start")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// No credentials: no connection at all.
	if nc, err := nats.Connect(n.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("no credentials: %v, want an authorization violation", err)
	}

	forbidden := func(nc *nats.Conn, errs func() []error, what string, try func() error) {
		t.Helper()
		before := len(errs())
		err := try()
		checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if err != nil || len(errs()) > before {
				return nil
			}
			return errf("%s was not refused", what)
		})
		c.check("after " + what)
	}
	tryJS := func(nc *nats.Conn, subject string, body any) func() error {
		return func() error {
			data, _ := json.Marshal(body)
			m, err := nc.Request(subject, data, 500*time.Millisecond)
			if err != nil {
				return err // refused requests are never answered
			}
			var resp struct {
				Error *struct{ Code int } `json:"error"`
			}
			if json.Unmarshal(m.Data, &resp) == nil && resp.Error != nil {
				return errf("refused with %d", resp.Error.Code)
			}
			return nil
		}
	}
	forged := location.AppendJSON(nil, &location.Record{Driver: "canary", Fix: location.Fix{Latitude: 1, Longitude: 1}, Time: 1})
	streamAPI := "$JS.API.STREAM."
	junk := map[string]any{"name": "JUNK", "subjects": []string{"junk.>"}}

	for _, role := range []string{testnode.Dispatcher, testnode.Analytics} {
		nc, errs := busClient(t, n, s, role)
		forbidden(nc, errs, role+" publishing a fix", func() error { return nc.Publish(fixstream.LocationSubject("canary"), forged) })
		forbidden(nc, errs, role+" publishing on a live subject", func() error { return nc.Publish(fixstream.LiveSubject("canary"), forged) })
		forbidden(nc, errs, role+" announcing a driver session", func() error { return nc.Publish(fixstream.SessionSubject("canary"), []byte(`{}`)) })
		forbidden(nc, errs, role+" announcing a driver's status", func() error {
			return nc.Publish(fixstream.StatusPrefix+"canary", []byte(`{"driver":"canary","state":"offline","reason":"disconnected","node":"n1","session":1}`))
		})
		forbidden(nc, errs, role+" posing as a node", func() error { return nc.Publish(fixstream.NodePrefix+"n9", []byte(`{"node":"n9"}`)) })
		forbidden(nc, errs, role+" subscribing to everything", func() error { _, err := nc.Subscribe(">", func(*nats.Msg) {}); nc.Flush(); return err })
		forbidden(nc, errs, role+" purging the stream", tryJS(nc, streamAPI+"PURGE."+node.StreamName, nil))
		forbidden(nc, errs, role+" deleting the stream", tryJS(nc, streamAPI+"DELETE."+node.StreamName, nil))
		forbidden(nc, errs, role+" updating the stream", tryJS(nc, streamAPI+"UPDATE."+node.StreamName, map[string]any{"name": node.StreamName, "subjects": []string{"rtls.loc.*"}}))
		forbidden(nc, errs, role+" creating a stream", tryJS(nc, streamAPI+"CREATE.JUNK", junk))
		forbidden(nc, errs, role+" publishing to the node's inbox", func() error { return nc.Publish("_RTLS."+n.Name()+".x.1", []byte(`{"stream":"LOCATIONS","seq":1}`)) })
	}

	// What each may do.
	nc, _ := busClient(t, n, s, testnode.Dispatcher)
	live, err := nc.SubscribeSync(fixstream.LivePrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	c.check("with a dispatcher listening")
	if m, err := live.NextMsg(5 * time.Second); err != nil || !strings.HasPrefix(m.Subject, fixstream.LivePrefix) {
		t.Fatalf("the dispatcher does not get live fixes: %v", err)
	}
	reader, err := fixstream.NewReader(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if fixes, err := reader.After(ctx, "canary", 0, 100); err != nil || len(fixes) == 0 {
		t.Fatalf("the dispatcher cannot read history: %v", err)
	}
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, node.StreamName)
	if err != nil {
		t.Fatalf("stream info as the dispatcher: %v", err)
	}
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		t.Fatalf("an ordered consumer as the dispatcher: %v", err)
	}
	if _, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Fatalf("reading an ordered consumer as the dispatcher: %v", err)
	}

	anc, _ := busClient(t, n, s, testnode.Analytics)
	ajs, _ := jetstream.New(anc)
	ast, err := ajs.Stream(ctx, node.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := ast.CreateOrUpdateConsumer(short, jetstream.ConsumerConfig{Durable: "other", AckPolicy: jetstream.AckExplicitPolicy}); err == nil {
		t.Fatal("the analytics identity created a consumer that is not its own")
	}
	cons, err := ast.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: testnode.AnalyticsConsumer, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("the analytics identity cannot create its own consumer: %v", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("reading its consumer: %v", err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatalf("acknowledging: %v", err)
	}
	// The dispatcher can neither change it (an hour's ack wait would stall
	// the tap) nor take its fixes.
	short3, cancelShort3 := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort3()
	if _, err := st.CreateOrUpdateConsumer(short3, jetstream.ConsumerConfig{Durable: testnode.AnalyticsConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour}); err == nil {
		t.Fatal("the dispatcher changed the analytics consumer")
	}
	if ci, err := ast.Consumer(ctx, testnode.AnalyticsConsumer); err != nil || ci.CachedInfo().Config.AckWait == time.Hour {
		t.Fatalf("the analytics consumer after the dispatcher's attempt: %v", err)
	}
	if m, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT."+node.StreamName+"."+testnode.AnalyticsConsumer, []byte(`{"batch":1,"expires":500000000}`), time.Second); err == nil {
		t.Fatalf("the dispatcher read the analytics consumer: %s %q", m.Header, m.Data)
	}
	// Nobody but an operator deletes it.
	short2, cancelShort2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort2()
	if err := st.DeleteConsumer(short2, testnode.AnalyticsConsumer); err == nil {
		t.Fatal("the dispatcher deleted the analytics consumer")
	}
	if _, err := ast.Consumer(ctx, testnode.AnalyticsConsumer); err != nil {
		t.Fatalf("the analytics consumer is gone: %v", err)
	}
	// A malformed status (say, from a compromised operator tool) is
	// dropped and counted, and the canary's own status still stands.
	op, _ := busClient(t, n, s, testnode.Operator)
	before := n.Stats().BusRejected
	op.Publish(fixstream.StatusPrefix+"canary", []byte(`{"driver":"other","state":"gone"}`))
	op.Flush()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n.Stats().BusRejected == before {
			return errf("a malformed status was not counted")
		}
		return nil
	})
	c.check("at the end")
}

// TestRogueServerCannotJoin: a NATS server that knows the cluster's name
// and a node's route address, but not the route password, does not join,
// and sees nothing of rtls.>.
func TestRogueServerCannotJoin(t *testing.T) {
	s := testnode.NewSecrets(t)
	c := clustertest.NewSecure(t, 3, s)
	cn := newCanary(t, s, c.Node(0))
	cn.check("before the rogue")

	opts := &server.Options{ServerName: "rogue", Host: "127.0.0.1", Port: -1, NoSigs: true,
		Cluster: server.ClusterOpts{Name: c.Config(0).ClusterName, Host: "127.0.0.1", Port: -1},
		Routes:  server.RoutesFromStr(c.Config(0).Routes[0])}
	rogue, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	rogue.Start()
	defer rogue.Shutdown()
	if !rogue.ReadyForConnections(5 * time.Second) {
		t.Fatal("rogue server not ready")
	}
	spy, err := nats.Connect(rogue.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	seen, err := spy.SubscribeSync("rtls.>")
	if err != nil {
		t.Fatal(err)
	}
	spy.Flush()
	for i := 0; i < 20; i++ {
		cn.check("with the rogue server knocking")
	}
	if m, err := seen.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("the rogue server saw %s", m.Subject)
	}
	if r := rogue.NumRoutes(); r != 0 {
		t.Fatalf("the rogue server holds %d routes", r)
	}
	for i := 0; i < c.Size(); i++ {
		if r := c.Node(i).Server().NumRoutes(); r > 2*(c.Size()-1)*4 {
			t.Fatalf("node %d holds %d routes", i, r)
		}
		if c.Node(i).Server().JetStreamClusterPeers() == nil {
			continue
		}
		for _, p := range c.Node(i).Server().JetStreamClusterPeers() {
			if p == "rogue" {
				t.Fatalf("node %d counts the rogue server among its JetStream peers", i)
			}
		}
	}
}

// TestForgedLiveMessages: a compromised back-end that may publish on the
// live subjects (here the operator identity) sends forged messages for
// drivers that riders track. No rider stalls (waits more than ten fix
// intervals for the next fix: a forged gap or cursor that held a room up
// would; the margin is the machine's scheduling, not a latency target),
// and no rider gets a malformed frame.
func TestForgedLiveMessages(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := startNode(t, s.Configure)
	const drivers, interval = 4, 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type rider struct {
		ws    *websocket.Conn
		times []time.Time
		bad   []string
		last  uint64
		done  chan struct{}
	}
	var ds []*mobileproto.Client
	var rs []*rider
	for i := 0; i < drivers; i++ {
		id := "d-" + strconv.Itoa(i)
		d, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithToken(s.Token(id, mobileproto.RoleDriver, time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ds = append(ds, d)
		ws, _, err := websocket.DefaultDialer.Dial(n.WebSocketURL(), bearer(s.Token("r-"+id, mobileproto.RoleRider, time.Hour, id)))
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		readFrame(t, ws) // welcome
		writeText(t, ws, `{"type":"track-driver","driver":"`+id+`","history":0}`)
		if f := readFrame(t, ws); f.Type != mobileproto.TypeTracking {
			t.Fatalf("track: %s", f.Type)
		}
		r := &rider{ws: ws, done: make(chan struct{})}
		rs = append(rs, r)
		go func() {
			defer close(r.done)
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				// Every frame must be one JSON object with one "type".
				var keys map[string]json.RawMessage
				f, derr := mobileproto.DecodeFrame(data)
				if derr == nil && f.Type == mobileproto.TypeDriverStatus && f.Status.Driver == id && json.Unmarshal(data, &keys) == nil {
					continue // the driver's liveness, not a fix
				}
				if json.Unmarshal(data, &keys) != nil || derr != nil || strings.Count(string(data), `"type"`) != 1 || f.Type != mobileproto.TypeReceiveLocation {
					r.bad = append(r.bad, string(data))
					continue
				}
				if f.Location.Cursor <= r.last || f.Location.Driver != id {
					r.bad = append(r.bad, string(data))
					continue
				}
				r.last = f.Location.Cursor
				r.times = append(r.times, time.Now())
			}
		}()
	}

	// Drivers send on a timer; the attacker sends forged messages between.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := d.SendLocationAsync(ctx, fix(seq)); err != nil {
					t.Errorf("driver %d: %v", i, err)
					return
				}
			}
		}()
	}
	attacker, _ := busClient(t, n, s, testnode.Operator)
	good := func(driver string) []byte {
		return location.AppendJSON(nil, &location.Record{Driver: driver, Fix: location.Fix{Latitude: 89, Longitude: 179}, Time: 1})
	}
	forge := func(driver string, seq, last string, data []byte) {
		m := nats.NewMsg(fixstream.LiveSubject(driver))
		if seq != "" {
			m.Header.Set(fixstream.SequenceHeader, seq)
		}
		if last != "" {
			m.Header.Set(fixstream.LastSequenceHeader, last)
		}
		m.Data = data
		if err := attacker.PublishMsg(m); err != nil {
			t.Error(err)
		}
	}
	deadline := time.Now().Add(4 * time.Second)
	for round := 0; time.Now().Before(deadline); round++ {
		for i := 0; i < drivers; i++ {
			id := "d-" + strconv.Itoa(i)
			switch round % 4 {
			case 0:
				forge(id, "18446744073709551000", "0", good(id)) // a huge Nats-Sequence
			case 1:
				forge(id, "1000000", "999999", good(id)) // a huge Nats-Last-Sequence
			case 2:
				forge(id, "5", "4", []byte(`not json {`))
			case 3:
				forge(id, "6", "5", []byte(`{"type":"error","driver":"`+id+`","latitude":1,"longitude":1,"time":1,"code":"x"}`))
			}
		}
		time.Sleep(interval / 4) // the attack's pace, not synchronisation
	}
	close(stop)
	wg.Wait()
	for _, d := range ds {
		d.Close()
	}
	var worst time.Duration
	for i, r := range rs {
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if s := n.Stats(); s.PendingPublishes > 0 {
				return errf("%d publishes pending", s.PendingPublishes)
			}
			return nil
		})
		r.ws.Close()
		<-r.done
		if len(r.bad) > 0 {
			t.Fatalf("rider %d got %d bad frames, the first: %s", i, len(r.bad), r.bad[0])
		}
		if len(r.times) < 20 {
			t.Fatalf("rider %d got only %d fixes", i, len(r.times))
		}
		for k := 1; k < len(r.times); k++ {
			worst = max(worst, r.times[k].Sub(r.times[k-1]))
		}
	}
	t.Logf("longest wait between two fixes at a rider: %v (fix interval %v); forged messages dropped: %d", worst.Round(time.Millisecond), interval, n.Stats().BusRejected)
	if worst > 10*interval {
		t.Fatalf("a rider waited %v between fixes, more than ten fix intervals (interval %v)", worst, interval)
	}
	if n.Stats().BusRejected == 0 {
		t.Fatal("no forged message was counted as dropped")
	}
}

// TestStreamDeletedUnderLoad: an operator deletes the stream while drivers
// send. The node logs it, /readyz says why it is not ready, the stream comes
// back, and the drivers' fixes (retried by the node) are stored.
func TestStreamDeletedUnderLoad(t *testing.T) {
	s := testnode.NewSecrets(t)
	logs := &logRecorder{}
	n := startNode(t, s.Configure, func(c *node.Config) { c.Logger = logs.logger() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A new stream is a new epoch: the node closes every client (1001) to
	// reconnect; the clients' reconnect policy resends what was not acked
	// and tracks again without the old stream's cursors.
	again := mobileproto.WithReconnect(mobileproto.ReconnectPolicy{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	d, err := mobileproto.Dial(ctx, n.WebSocketURL(), again, mobileproto.WithToken(s.Token("d-1", mobileproto.RoleDriver, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := mobileproto.Dial(ctx, n.WebSocketURL(), again, mobileproto.WithLocationBuffer(1<<12), mobileproto.WithToken(s.Token("r-1", mobileproto.RoleRider, time.Hour, "d-1")))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	oldEpoch := r.Welcome().Epoch
	var pend []*mobileproto.Pending
	send := func(from, to uint64) {
		for seq := from; seq <= to; seq++ {
			p, err := d.SendLocationAsync(ctx, fix(seq))
			if err != nil {
				t.Fatal(err)
			}
			pend = append(pend, p)
			time.Sleep(5 * time.Millisecond) // the driver's pace
		}
	}
	send(1, 50)
	op, _ := busClient(t, n, s, testnode.Operator)
	js, _ := jetstream.New(op)
	if err := js.DeleteStream(ctx, node.StreamName); err != nil {
		t.Fatalf("the operator cannot delete the stream: %v", err)
	}
	send(51, 150)
	var stored []uint64
	for _, p := range pend {
		a, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("seq %d: %v", p.Seq, err)
		}
		stored = append(stored, a.Seq)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !logs.has("STREAM MISSING") {
			return errf("the deletion was not logged")
		}
		if p := n.StreamProblem(); p != "" {
			return errf("stream problem %q", p)
		}
		return nil
	})
	resp, err := http.Get("http://" + n.HTTPAddr() + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after the repair: %v %v", resp, err)
	}
	resp.Body.Close()
	// Every fix sent after the deletion is in the stream again.
	reader, err := fixstream.NewReader(op)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	fixes, err := reader.After(ctx, "d-1", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]bool{}
	for _, f := range fixes {
		have[f.Record.Seq] = true
	}
	for seq := uint64(51); seq <= 150; seq++ {
		if !have[seq] {
			t.Fatalf("fix %d, sent after the deletion and acked, is not in the recreated stream", seq)
		}
	}
	t.Logf("%d fixes acked; %d in the recreated stream", len(stored), len(fixes))
	// The rider is on the new epoch and gets the new stream's fixes live.
	for {
		select {
		case l := <-r.Locations():
			if l.Seq == 150 {
				if e := r.Welcome().Epoch; e == oldEpoch || e != n.Epoch() {
					t.Fatalf("the rider's epoch %s, was %s, the node's %s", e, oldEpoch, n.Epoch())
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the rider never got the last fix, stored in the new stream")
		}
	}
}

// TestProductionRefusesAnOpenBus: a node with token authentication does not
// start with open routes or a clear-text client port beyond loopback.
func TestProductionRefusesAnOpenBus(t *testing.T) {
	s := testnode.NewSecrets(t)
	for _, tc := range []struct {
		name   string
		mutate func(*node.Config)
	}{
		{"routes without a password", func(c *node.Config) {
			c.ClusterAddr, c.Routes = "127.0.0.1:0", []string{"nats://127.0.0.1:6222"}
			c.Bus.RouteUser, c.Bus.RoutePassword = "", ""
		}},
		{"a clear-text client port on every interface", func(c *node.Config) { c.ClientAddr = "0.0.0.0:0" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.Config{Name: "n1", DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ClientAddr: "127.0.0.1:0"}
			s.Configure(&cfg)
			tc.mutate(&cfg)
			_, err := node.New(cfg)
			if !errors.Is(err, node.ErrInsecure) || !errors.Is(err, node.ErrInvalidConfig) {
				t.Fatalf("%v, want ErrInsecure", err)
			}
			t.Log(err)
		})
	}
}
