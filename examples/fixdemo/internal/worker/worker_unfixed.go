//go:build fixdemo_unfixed_leak

package worker

// next is the leaking version: it only stops when the job channel is
// closed, but cancelling the pool never closes it, so every worker stays
// blocked here forever once the pool is stopped.
func (p *Pool) next() (job func(), ok bool) {
	job, ok = <-p.jobs
	return job, ok
}
