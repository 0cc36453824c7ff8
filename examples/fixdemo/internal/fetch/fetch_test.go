package fetch

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()
	code, body, err := Get(Client(), srv.URL)
	if err != nil || code != 200 || body != "hello" {
		t.Fatalf("Get = %d %q %v", code, body, err)
	}
}

func TestUploadAccepted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sb strings.Builder
		_, _ = bufio.NewReader(r.Body).WriteTo(&sb)
		fmt.Fprintf(w, "got %d bytes", sb.Len())
	}))
	defer srv.Close()
	code, body, err := Upload(Client(), srv.URL, []byte("payload"))
	if err != nil || code != 200 || body != "got 7 bytes" {
		t.Fatalf("Upload = %d %q %v", code, body, err)
	}
}

// rawServer is a minimal HTTP/1.1 server that answers every request at once,
// before reading its body, as a backend that rejects an upload does. Like any
// compliant server that keeps the connection open, it then reads and discards
// Content-Length bytes of body before the next request. It records each
// request line it sees so the test can tell a well-formed follow-up request
// from a request the client corrupted.
type rawServer struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
}

func newRawServer(t *testing.T) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *rawServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(conn)
	}
}

func (s *rawServer) handle(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		s.mu.Lock()
		s.lines = append(s.lines, line)
		s.mu.Unlock()
		length := 0
		for { // headers
			h, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if h == "\r\n" || h == "\n" {
				break
			}
			if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "Content-Length") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		body := "denied"
		if strings.HasPrefix(line, "GET ") {
			body = "ok"
		}
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if _, err := io.CopyN(io.Discard, r, int64(length)); err != nil {
			return
		}
	}
}

func (s *rawServer) requestLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// TestRegressionGO20242963 proves the fix for GO-2024-2963 is in the
// toolchain: after a server answers an Expect: 100-continue upload with a
// final status without reading the body, the client must not leave the
// connection in a state where the next request is corrupted (the unsent
// body must never reach the server in place of the next request line).
func TestRegressionGO20242963(t *testing.T) {
	s := newRawServer(t)
	c := Client()
	url := "http://" + s.ln.Addr().String() + "/"
	payload := []byte("BODYBYTES-NOT-A-REQUEST\r\n\r\n")
	if code, _, err := Upload(c, url, payload); err != nil || code != 200 {
		t.Fatalf("upload: %d %v", code, err)
	}
	code, body, err := Get(c, url)
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("request after the upload failed: %d %q %v", code, body, err)
	}
	for _, l := range s.requestLines() {
		if !strings.HasPrefix(l, "POST ") && !strings.HasPrefix(l, "GET ") {
			t.Fatalf("server received a corrupted request line %q after an Expect: 100-continue upload", l)
		}
	}
}
