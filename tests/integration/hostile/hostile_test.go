// Package hostile is the malicious part of the hostile app (tests/integration/hostile): a Go test that tries
// to get out of the container fixproof runs the app's tests in, and reports what it could do.
//
// The suite copies it into a copy of examples/fixdemo as internal/hostile/hostile_test.go. It
// always fails, on purpose: its last act is t.Errorf with every finding as one JSON object after
// "HOSTILE-FINDINGS ", which the Python side reads from the test stage's result. Errors are
// reported as errno names (EROFS, EACCES...), never as the OS's text, so the test output does not
// look like a machine failure to fixproof.
package hostile

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var errnoNames = map[syscall.Errno]string{
	syscall.EROFS: "EROFS", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.ENOSPC: "ENOSPC",
	syscall.EAGAIN: "EAGAIN", syscall.ENOENT: "ENOENT", syscall.ENETUNREACH: "ENETUNREACH",
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.EHOSTUNREACH: "EHOSTUNREACH", syscall.ENOMEM: "ENOMEM",
	syscall.EDQUOT: "EDQUOT", syscall.EEXIST: "EEXIST", syscall.ENOTDIR: "ENOTDIR", syscall.EINVAL: "EINVAL",
}

// errName is "" for no error, an errno name, or the error's Go type: never the OS's message.
func errName(err error) string {
	if err == nil {
		return ""
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n, ok := errnoNames[errno]; ok {
			return n
		}
		return "errno " + strconv.Itoa(int(errno))
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "dns error"
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return fmt.Sprintf("%T", err)
}

func readFirst(paths ...string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func statusField(name string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+":") {
			return strings.TrimSpace(strings.TrimPrefix(line, name+":"))
		}
	}
	return ""
}

// writableMounts: the mount points /proc/self/mountinfo lists as read-write, with their source.
func writableMounts() map[string]string {
	out := map[string]string{}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if strings.Split(f[5], ",")[0] == "rw" {
			out[f[4]] = f[3] // mount point -> root of the mount in its filesystem (a volume's path)
		}
	}
	return out
}

func tryWrite(dir, mark string) string {
	p := filepath.Join(dir, "hostile-"+mark)
	err := os.WriteFile(p, []byte("planted by the hostile app\n"), 0o644)
	if err == nil {
		return "written"
	}
	return errName(err)
}

func TestHostile(t *testing.T) {
	mark := os.Getenv("HOSTILE_MARK")
	if mark == "" {
		mark = "nomark"
	}
	cwd, _ := os.Getwd() // the package directory; the module root holds go.mod
	module := cwd
	for module != "/" {
		if _, err := os.Stat(filepath.Join(module, "go.mod")); err == nil {
			break
		}
		module = filepath.Dir(module)
	}
	findings := map[string]any{"cwd": cwd, "module": module}

	// Who am I, what may I do, what bounds me.
	findings["uid"] = os.Getuid()
	findings["gid"] = os.Getgid()
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"} {
		findings[k] = statusField(k)
	}
	findings["pids_max"] = readFirst("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max")
	findings["memory_max"] = readFirst("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max")
	findings["root_write"] = tryWrite("/", mark)

	// Every writable place: the source, its parents, the caches, the toolchain, every rw mount.
	gocache := os.Getenv("GOCACHE")
	targets := []string{cwd, module, filepath.Dir(module), "/src", "/src/app", "/src/.git", os.Getenv("GOMODCACHE"), gocache,
		"/usr/local/go", "/etc", "/root", "/out", "/tmp", os.Getenv("HOME")}
	mounts := writableMounts()
	findings["rw_mounts"] = mounts
	for m := range mounts {
		targets = append(targets, m)
	}
	writes := map[string]string{}
	for _, d := range targets {
		if d != "" && !strings.HasPrefix(d, "/proc") && !strings.HasPrefix(d, "/sys") && !strings.HasPrefix(d, "/dev") {
			writes[d] = tryWrite(d, mark)
		}
	}
	findings["writes"] = writes

	// Plant entries in the Go build cache: the top and an entry-like file in a fan-out directory.
	plants := map[string]string{}
	if gocache != "" {
		plants["top"] = tryWrite(gocache, mark)
		sub := filepath.Join(gocache, "ff")
		_ = os.MkdirAll(sub, 0o777)
		err := os.WriteFile(filepath.Join(sub, "hostile-"+mark+"-d"), []byte("poisoned output\n"), 0o644)
		plants["entry"] = "written"
		if err != nil {
			plants["entry"] = errName(err)
		}
	}
	findings["gocache_plants"] = plants

	// The network.
	d := net.Dialer{Timeout: 2 * time.Second}
	_, err := d.Dial("tcp", "1.1.1.1:443")
	findings["dial_tcp"] = errName(err)
	if err == nil {
		findings["dial_tcp"] = "connected"
	}
	_, err = net.LookupHost("proxy.golang.org")
	findings["dns"] = errName(err)
	if err == nil {
		findings["dns"] = "resolved"
	}
	ifaces, _ := net.Interfaces()
	names := []string{}
	for _, i := range ifaces {
		names = append(names, i.Name)
	}
	findings["interfaces"] = names

	// Outside the module: the repository around it, its .git, the host.
	reads := map[string]string{}
	for _, p := range []string{filepath.Join(module, "..", "secret.txt"), "/src/secret.txt", "/src/.git/config",
		"/src/.git/HEAD", filepath.Join(module, "..", ".git", "config"), "/etc/shadow"} {
		_, err := os.ReadFile(p)
		reads[p] = "read"
		if err != nil {
			reads[p] = errName(err)
		}
	}
	findings["reads"] = reads
	entries, _ := os.ReadDir("/src")
	listing := []string{}
	for _, e := range entries {
		listing = append(listing, e.Name())
	}
	findings["src_listing"] = listing

	// Fill the scratch tmpfs until it refuses.
	fill := filepath.Join(os.TempDir(), "hostile-fill-"+mark)
	if f, err := os.Create(fill); err == nil {
		chunk := make([]byte, 1<<20)
		var written int64
		var werr error
		for written < 8<<30 {
			n, err := f.Write(chunk)
			written += int64(n)
			if err != nil {
				werr = err
				break
			}
		}
		f.Close()
		os.Remove(fill)
		findings["fill_tmp"] = map[string]any{"bytes": written, "err": errName(werr)}
	}

	// A fork bomb: short-lived sleeps until fork fails (the shell then exits); the pids limit stops
	// it. HOSTILE_BOMB_MAX caps it, so a sandbox without the limit is not taken down with the host.
	max := os.Getenv("HOSTILE_BOMB_MAX")
	if _, err := strconv.Atoi(max); err != nil {
		max = "1024"
	}
	count := filepath.Join(os.TempDir(), "hostile-bomb-"+mark)
	bomb := exec.Command("sh", "-c", `n=0; while [ $n -lt "$2" ]; do sleep 3 & n=$((n+1)); echo $n > "$1"; done`,
		"sh", count, max)
	bombErr := bomb.Run()
	findings["forkbomb"] = map[string]any{
		"started":      readFirst(count),
		"shell_failed": bombErr != nil,
		"pids_current": readFirst("/sys/fs/cgroup/pids/pids.current", "/sys/fs/cgroup/pids.current"),
		"pids_events":  readFirst("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"),
	}

	out, _ := json.Marshal(findings)
	t.Errorf("HOSTILE-FINDINGS %s", out) // always: a run of this test must never be PASS
}
