package audit

import (
	"net"
	"os"
	"testing"
	"time"
)

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) { t.Fatal("always fails") }

// TestFlaky fails on the first attempt only (fixproof sets FIXPROOF_TEST_ATTEMPT).
func TestFlaky(t *testing.T) {
	if os.Getenv("FIXPROOF_TEST_ATTEMPT") == "1" {
		t.Fatal("flaky: first attempt fails")
	}
}

func TestKnownBroken(t *testing.T) {
	t.Run("ok", func(t *testing.T) {})
	t.Run("bad", func(t *testing.T) { t.Error("known bug") })
}

func TestDialsOut(t *testing.T) {
	c, err := net.DialTimeout("tcp", "1.1.1.1:53", 3*time.Second)
	if err != nil {
		t.Fatalf("dial 1.1.1.1:53: %v", err)
	}
	c.Close()
}

func TestLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback: %v", err)
	}
	c.Close()
}
