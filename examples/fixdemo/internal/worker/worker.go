// Package worker is a small pool of goroutines that run submitted jobs.
//
// Stopping the pool is the fix this package demonstrates: the workers must
// return once the pool's context is cancelled. An earlier version waited for
// the job channel to be closed, which nothing ever did, so every cancelled
// pool left all of its goroutines blocked forever. Build with the tag
// fixdemo_unfixed_leak to get that old behaviour back (for showing that the
// checks catch it).
package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrStopped is returned by Submit once the pool's context is done.
var ErrStopped = errors.New("worker: pool stopped")

// Pool runs jobs on a fixed number of worker goroutines until its context
// is cancelled.
type Pool struct {
	ctx  context.Context
	jobs chan func()
	live atomic.Int32  // workers that have not returned yet
	done chan struct{} // closed when live drops to zero
	ran  atomic.Int64  // jobs completed
}

// Start starts n workers (n below 1 is treated as 1) that run jobs until ctx
// is cancelled. Cancel ctx to stop the pool.
func Start(ctx context.Context, n int) *Pool {
	if n < 1 {
		n = 1
	}
	p := &Pool{ctx: ctx, jobs: make(chan func()), done: make(chan struct{})}
	p.live.Store(int32(n))
	for i := 0; i < n; i++ {
		go p.loop()
	}
	return p
}

// Submit hands job to an idle worker, waiting for one to be free. It
// returns ErrStopped if the pool's context is done first.
func (p *Pool) Submit(job func()) error {
	select {
	case p.jobs <- job:
		return nil
	case <-p.ctx.Done():
		return ErrStopped
	}
}

// Wait waits up to timeout for every worker to return and reports whether
// they all did.
func (p *Pool) Wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Live reports how many workers have not returned yet.
func (p *Pool) Live() int { return int(p.live.Load()) }

// Ran reports how many jobs have completed.
func (p *Pool) Ran() int64 { return p.ran.Load() }

// loop is the body of each worker goroutine: it runs jobs until next says
// the pool is finished, then returns. It is kept out of line so it shows up
// as its own function (one call per worker) in the binary.
//
//go:noinline
func (p *Pool) loop() {
	defer p.exit()
	for {
		job, ok := p.next()
		if !ok {
			return
		}
		job()
		p.ran.Add(1)
	}
}

// exit records that a worker is returning.
func (p *Pool) exit() {
	if p.live.Add(-1) == 0 {
		close(p.done)
	}
}
