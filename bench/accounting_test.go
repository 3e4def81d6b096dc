package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rtls-io/rtls/mobileproto"
)

func TestAccountCountsEveryOfferedFix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		riders int
		t      tally
		d      Delivery
		timely int
		want   StepResult // only the fields below are compared
	}{
		{
			name: "all delivered", riders: 1,
			t:      tally{offered: 1000, sent: 1000, acked: 1000},
			d:      Delivery{Received: 1000, Unique: 1000},
			timely: 990,
			want:   StepResult{Offered: 1000, Sent: 1000, Acked: 1000, Delivered: 1000, OfferedPS: 100, DeliveredPS: 100, TimelyPS: 99},
		},
		{
			name: "refused, not sent and unanswered are lost", riders: 1,
			t: tally{offered: 1000, notSent: 100, sent: 900, acked: 700,
				errors: map[string]int{"unavailable": 150, "internal": 40, "client: connection failed": 5}},
			d: Delivery{Unique: 700},
			want: StepResult{Offered: 1000, NotSent: 100, Sent: 900, Acked: 700, SendErrors: 195, Unanswered: 5,
				Delivered: 700, Lost: 300, LossRate: 0.3, OfferedPS: 100, DeliveredPS: 70},
		},
		{
			name: "acked but lost", riders: 1,
			t:    tally{offered: 100, sent: 100, acked: 100},
			d:    Delivery{Unique: 97, Lost: 3},
			want: StepResult{Offered: 100, Sent: 100, Acked: 100, Delivered: 97, AckedButLost: 3, Lost: 3, LossRate: 0.03, OfferedPS: 10, DeliveredPS: 9.7},
		},
		{
			name: "refused yet stored and delivered: goodput, and lost", riders: 1,
			t:    tally{offered: 100, sent: 100, acked: 60, errors: map[string]int{"unavailable": 40}},
			d:    Delivery{Unique: 90},
			want: StepResult{Offered: 100, Sent: 100, Acked: 60, SendErrors: 40, Delivered: 90, DeliveredNotAcked: 30, Lost: 40, LossRate: 0.4, OfferedPS: 10, DeliveredPS: 9},
		},
		{
			name: "two riders per driver", riders: 2,
			t:    tally{offered: 100, sent: 100, acked: 90, errors: map[string]int{"rate_limited": 10}},
			d:    Delivery{Unique: 179, Lost: 1},
			want: StepResult{Offered: 100, Sent: 100, Acked: 90, SendErrors: 10, Delivered: 179, AckedButLost: 1, Lost: 21, LossRate: 0.105, OfferedPS: 10, DeliveredPS: 17.9},
		},
		{
			name: "nothing offered", riders: 1,
			want: StepResult{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StepResult{RidersPerDriver: tc.riders}
			s.account(tc.t, tc.d, everyDriverWatched(tc.t, max(tc.riders, 1)), tc.timely, 10)
			got := StepResult{Offered: s.Offered, NotSent: s.NotSent, Sent: s.Sent, Acked: s.Acked, SendErrors: s.SendErrors,
				Unanswered: s.Unanswered, Delivered: s.Delivered, DeliveredNotAcked: s.DeliveredNotAcked, AckedButLost: s.AckedButLost,
				Lost: s.Lost, LossRate: s.LossRate, OfferedPS: s.OfferedPS, DeliveredPS: s.DeliveredPS, TimelyPS: s.TimelyPS}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			if s.Offered != s.NotSent+s.Acked+s.SendErrors+s.Unanswered {
				t.Fatalf("offered %d ≠ not sent %d + acked %d + errors %d + unanswered %d", s.Offered, s.NotSent, s.Acked, s.SendErrors, s.Unanswered)
			}
			if len(tc.t.errors) > 0 {
				tc.t.errors["later"] = 1
				if s.Errors["later"] != 0 {
					t.Fatal("the step shares its errors map with the tally")
				}
			}
		})
	}
}

func TestAccountCountsAnnouncedSkipsApart(t *testing.T) {
	// 1,000 fixes, all acked, one rider each: 990 delivered, 8 skipped by
	// the node with notice (latest wins for a slow rider), 2 vanished.
	tl := tally{offered: 1000, sent: 1000, acked: 1000}
	s := StepResult{RidersPerDriver: 1}
	s.account(tl, Delivery{Received: 990, Unique: 990, Skipped: 8, Lost: 2}, everyDriverWatched(tl, 1), 990, 10)
	if s.AckedButLost != 2 || s.SkippedAnnounced != 8 || s.Lost != 2 || s.LossRate != 0.002 || s.SkipRate != 0.008 || s.DeliveredNotAcked != 0 {
		t.Fatalf("%+v", s)
	}
	// Skips are not loss, but a step that skips is not sustained.
	s.Latency = Latency{Count: 990, P99: 10}
	s.LossRate = 0.0005
	if why := fmt.Sprint(whyNotSustained(s)); why != "[loss 0.05 % + skipped (announced) 0.80 %]" {
		t.Fatalf("why = %s", why)
	}
	s.SkipRate = 0.0004
	if !Sustained(s) {
		t.Fatalf("not sustained: %v", whyNotSustained(s))
	}

	// Only the pairs due count: 200 watched drivers of 1,000, each due its
	// 60 fixes, one of them never acked.
	tl = tally{offered: 1000 * 60, sent: 1000 * 60, acked: 1000*60 - 3}
	s = StepResult{RidersPerDriver: 1}
	s.account(tl, Delivery{Unique: 200*60 - 1}, due{pairs: 200 * 60, notAcked: 1}, 0, 60)
	if s.Due != 12000 || s.Lost != 1 || s.LossRate != 1.0/12000 || s.DeliveredNotAcked != 0 {
		t.Fatalf("watched subset: %+v", s)
	}
}

func TestTallyAdd(t *testing.T) {
	var sum tally
	sum.add(tally{offered: 3, notSent: 1, sent: 2, acked: 1, errors: map[string]int{"internal": 1}})
	sum.add(tally{offered: 2, sent: 2, acked: 1, errors: map[string]int{"internal": 1, "overloaded": 1}})
	if sum.offered != 5 || sum.notSent != 1 || sum.sent != 4 || sum.acked != 2 || sum.errors["internal"] != 2 || sum.errors["overloaded"] != 1 {
		t.Fatalf("%+v", sum)
	}
}

func TestErrorKeyNamesTheCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&mobileproto.Error{Code: mobileproto.CodeUnavailable, Seq: 4}, "unavailable"},
		{&mobileproto.Error{Code: mobileproto.CodeInternal}, "internal"},
		{&mobileproto.Error{Code: mobileproto.CodeRateLimited}, "rate_limited"},
		{&mobileproto.Error{Code: "overloaded"}, "overloaded"}, // a code this client does not know yet
		{fmt.Errorf("wrapped: %w", &mobileproto.Error{Code: "overloaded"}), "overloaded"},
		{&mobileproto.Error{}, "(no code)"},
		{&mobileproto.CloseError{Code: 4008, Reason: "too many unread frames"}, "client: closed by node 4008"},
		{mobileproto.ErrClosed, "client: closed"},
		{context.DeadlineExceeded, "client: timed out"},
		{errors.New("write tcp: broken pipe"), "client: connection failed"},
	} {
		if got := errorKey(tc.err); got != tc.want {
			t.Errorf("errorKey(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestSustained(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    StepResult
		why  string
	}{
		{"within the limits", StepResult{LossRate: 0.0009, Latency: Latency{Count: 1, P99: 249}}, ""},
		{"loss at the limit", StepResult{LossRate: 0.001, Latency: Latency{Count: 1, P99: 1}}, "[loss 0.10 %]"},
		{"p99 at the limit", StepResult{Latency: Latency{Count: 1, P99: 250}}, "[p99 250 ms]"},
		{"nothing delivered", StepResult{}, "[nothing delivered]"},
		{"a connection failed", StepResult{ConnectionsFailed: 1, Latency: Latency{Count: 1, P99: 1}}, "[1 connections failed]"},
		{"everything wrong", StepResult{ConnectionsFailed: 2, LossRate: 0.5, Latency: Latency{Count: 9, P99: 900}}, "[2 connections failed loss 50.00 % p99 900 ms]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := whyNotSustained(tc.s)
			if got := fmt.Sprint(why); (len(why) > 0 || tc.why != "") && got != tc.why {
				t.Fatalf("why = %s, want %s", got, tc.why)
			}
			if Sustained(tc.s) != (tc.why == "") {
				t.Fatalf("Sustained = %v", Sustained(tc.s))
			}
		})
	}
}

func TestErrorsTextAndCount(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]int
		want string
	}{
		{nil, "0"},
		{map[string]int{"unavailable": 3}, "unavailable 3"},
		{map[string]int{"internal": 12, "unavailable": 67220, "client: closed": 12}, "unavailable 67,220, client: closed 12, internal 12"},
	} {
		if got := errorsText(tc.m); got != tc.want {
			t.Errorf("errorsText(%v) = %q, want %q", tc.m, got, tc.want)
		}
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0.0", 999.95: "1,000.0", 15972.34: "15,972.3", -2.25: "-2.3"} {
		if got := f1c(v); got != want {
			t.Errorf("f1c(%v) = %q, want %q", v, got, want)
		}
	}
}
