package mobileproto

import (
	"context"
	"fmt"
	"time"
)

func (c *Client) settle(seq uint64, a Ack, err error) bool {
	c.mu.Lock()
	p, ok := c.inflight[seq]
	delete(c.inflight, seq)
	c.mu.Unlock()
	if ok {
		p.resolve(a, err)
		<-c.slots
	}
	return ok
}

// Pending is a sent fix waiting for its ack.
type Pending struct {
	// Seq is the fix's seq.
	Seq   uint64
	frame []byte
	gen   uint64 // connection it was last written to; guarded by Client.wmu
	done  chan struct{}
	ack   Ack
	err   error
}

func (p *Pending) resolve(a Ack, err error) {
	p.ack, p.err = a, err
	close(p.done)
}

// Done is closed when the ack or an error has arrived.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result returns the ack, or the *Error the node answered with, once Done is
// closed.
func (p *Pending) Result() (Ack, error) {
	<-p.done
	return p.ack, p.err
}

// Wait waits for the ack or ctx.
func (p *Pending) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
}

// SendLocationAsync sends a fix and returns without waiting for its ack. A
// fix without Seq gets the client's next seq, and one without TS the current
// time. It blocks while WithMaxInFlight fixes wait for acks. With
// WithReconnect, a fix that cannot be written now is sent after reconnecting.
func (c *Client) SendLocationAsync(ctx context.Context, f Fix) (*Pending, error) {
	if c.Welcome().Role != RoleDriver {
		return nil, ErrNotDriver
	}
	if f.TS == 0 {
		f.TS = time.Now().UnixMilli()
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.Err()
	}
	p := &Pending{done: make(chan struct{})}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.slots
		return nil, ErrClosed
	}
	if f.Seq == 0 {
		f.Seq = c.nextSeq
	}
	if f.Seq >= c.nextSeq {
		c.nextSeq = f.Seq + 1
	}
	p.Seq = f.Seq
	if _, dup := c.inflight[f.Seq]; dup {
		c.mu.Unlock()
		<-c.slots
		return nil, fmt.Errorf("%w: seq %d is already waiting for its ack", ErrInvalidOption, f.Seq)
	}
	p.frame = AppendSendLocation(make([]byte, 0, 160), &f)
	c.inflight[f.Seq] = p
	c.mu.Unlock()

	c.wmu.Lock()
	var err error
	if p.gen != c.gen || c.ws == nil { // resume may already have sent it
		if err = c.writeLocked(p.frame); err == nil {
			p.gen = c.gen
		}
	}
	c.wmu.Unlock()
	if err != nil && c.opts.reconnect == nil {
		c.settle(f.Seq, Ack{}, err)
		return nil, err
	}
	return p, nil
}

// SendLocation sends a fix and waits for its ack. It returns the node's
// *Error when the fix was refused.
func (c *Client) SendLocation(ctx context.Context, f Fix) (Ack, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	p, err := c.SendLocationAsync(ctx, f)
	if err != nil {
		return Ack{}, err
	}
	return p.Wait(ctx)
}
