// Package fetch uploads a payload to an HTTP server with
// "Expect: 100-continue", the request shape behind GO-2024-2963: before
// go1.21.12 and go1.22.5 a server answering such a request with a final
// status (>= 200) left the client connection in a state where the next
// request sent on it failed.
package fetch

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client returns the HTTP client fixdemo uses.
func Client() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			ExpectContinueTimeout: 5 * time.Second,
			MaxIdleConnsPerHost:   1,
		},
	}
}

// Upload posts body to url with Expect: 100-continue and returns the
// response status and body.
func Upload(c *http.Client, url string, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Expect", "100-continue")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Get fetches url and returns its status and body.
func Get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", fmt.Errorf("get: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
