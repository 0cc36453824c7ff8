// Command fixdemo is the example application fixproof verifies. It picks a
// language for an Accept-Language header and uploads a payload over HTTP,
// the two code paths with known, fixed vulnerabilities (GO-2022-1059 in
// golang.org/x/text, GO-2024-2963 in net/http).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"example.com/fixdemo/internal/cache"
	"example.com/fixdemo/internal/chunk"
	"example.com/fixdemo/internal/counter"
	"example.com/fixdemo/internal/fetch"
	"example.com/fixdemo/internal/negotiate"
	"example.com/fixdemo/internal/shapes"
	"example.com/fixdemo/internal/worker"
)

func main() {
	lang := flag.String("lang", "", "Accept-Language header to negotiate")
	upload := flag.String("upload", "", "URL to upload a payload to (Expect: 100-continue)")
	selftest := flag.Bool("selftest", false, "negotiate a few headers, including an over-long one, and exit")
	cacheN := flag.Int("cache", 0, "put `N` distinct keys into a 64-entry cache and print its final size")
	readN := flag.Int("read", 0, "request `N` bytes from an in-memory stream and print how many were read")
	shapesDemo := flag.Bool("shapes", false, "describe a square made by shapes.NewSquare and print the outcome")
	workersN := flag.Int("workers", 0, "start `N` pool workers, run a few jobs, cancel, and print the goroutine count")
	countN := flag.Int("count", 0, "have `N` goroutines each increment a shared counter 1000 times and print the total")
	flag.Parse()

	switch {
	case *selftest:
		for _, h := range []string{"fr-CH, fr;q=0.9", "de", "x" + strings.Repeat("-a", 2000)} {
			tag, err := negotiate.Pick(h)
			fmt.Printf("%d-byte header -> %v (rejected=%v)\n", len(h), tag, err != nil)
		}
	case *lang != "":
		tag, err := negotiate.Pick(*lang)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fixdemo:", err)
		}
		fmt.Println(tag)
	case *upload != "":
		code, body, err := fetch.Upload(fetch.Client(), *upload, []byte("fixdemo payload"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fixdemo:", err)
			os.Exit(1)
		}
		fmt.Println(code, body)
	case *cacheN > 0:
		c := cache.New(64)
		for i := 0; i < *cacheN; i++ {
			c.Put(fmt.Sprintf("key-%d", i), []byte{byte(i)})
		}
		fmt.Println("cache size", cacheDone(c))
	case *readN > 0:
		src := bytes.NewReader(bytes.Repeat([]byte{'x'}, *readN))
		b, err := chunk.Read(src, *readN)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fixdemo:", err)
			os.Exit(1)
		}
		fmt.Println("read", len(b), "bytes")
	case *shapesDemo:
		var v any = shapes.Square{Side: 2}
		_, ok := v.(shapes.Shape)
		fmt.Println("Square satisfies Shape:", ok)
		desc, err := shapes.Describe(shapes.NewSquare(2))
		if err != nil {
			fmt.Println("describe failed:", err)
		} else {
			fmt.Println(desc)
		}
	case *workersN > 0:
		fmt.Println("goroutines:", runWorkers(*workersN))
	case *countN > 0:
		fmt.Println("total:", runCount(*countN))
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// cacheDone is called once the -cache run has filled the cache; it is kept
// out of line so a debugger can stop here and inspect the final cache.
//
//go:noinline
func cacheDone(c *cache.Cache) int {
	return c.Len()
}

// runWorkers starts a pool of n workers, runs a few jobs on it, cancels it
// and waits (at most 200ms) for the goroutine count to drop back to what it
// was before; it returns the count at the end.
func runWorkers(n int) int {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	p := worker.Start(ctx, n)
	for i := 0; i < 5; i++ {
		if err := p.Submit(func() {}); err != nil {
			break
		}
	}
	cancel()
	deadline := time.Now().Add(200 * time.Millisecond)
	p.Wait(time.Until(deadline))
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// runCount has n goroutines each call Inc 1000 times on one shared counter
// and returns the final value.
func runCount(n int) int64 {
	var c counter.Counter
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				c.Inc()
			}
		}()
	}
	wg.Wait()
	return c.Value()
}
