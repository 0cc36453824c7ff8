//go:build !fixdemo_unfixed_leak

package worker

// next waits for the next job. It gives up (ok false) as soon as the pool's
// context is cancelled, so every worker returns when the pool is stopped.
func (p *Pool) next() (job func(), ok bool) {
	select {
	case job := <-p.jobs:
		return job, true
	case <-p.ctx.Done():
		return nil, false
	}
}
