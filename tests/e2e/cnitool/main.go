// cnitool: the project's CNI runtime driver for tests, built on libcni 1.1.2 (Debian's
// golang-github-appc-cni-dev, the library containerd and CRI-O use) and the standard library.
//
//	cnitool add|check|del <net> <netns-path> [container-id]
//	cnitool version <plugin-type>
//	cnitool bench    [-n 20] [-check] [-netns p1,p2,...] [-id-prefix ID] <net>
//	cnitool parallel [-n 50] [-del=true] [-netns p1,p2,...] [-id-prefix ID] <net>
//
// add prints the result JSON; check and del print nothing. A failed operation prints
// {"error":{"code","msg","details","message"}} on stdout and exits 1; bad usage exits 2.
// bench runs N sequential ADDs (then CHECKs with -check), then N DELs, and prints latency samples
// and percentiles as JSON. parallel runs N concurrent ADDs, then N concurrent DELs, and prints
// every result. Both use one network namespace per container: the paths given with -netns, or
// namespaces the driver makes itself (pinned to a thread, so nothing outlives the driver).
//
// Environment: CNI_PATH (default /usr/lib/cni), NETCONFPATH (default /etc/cni/net.d),
// NETCONFFILE (use this .conflist/.conf instead of searching NETCONFPATH), CNI_IFNAME (eth0),
// CNI_ARGS ("K=V;K=V"; in bench/parallel "{i}" becomes the operation's index), CAP_ARGS (JSON
// object of capability args), CNI_CACHE_DIR (default /var/lib/cni), CNITOOL_TIMEOUT (per
// operation, Go duration, default 2m).
//
// libcni 1.1.2 implements CNI spec 1.0.0: it has no GC or STATUS (added in spec 1.1.0) and
// cannot parse a result whose cniVersion is 1.1.0, so conflists driven through this tool use
// cniVersion 1.0.0 or older; GC and STATUS are tested by invoking the plugin directly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

const usage = `usage:
  cnitool add|check|del <net> <netns-path> [container-id]
  cnitool version <plugin-type>
  cnitool bench    [-n 20] [-check] [-netns p1,p2,...] [-id-prefix ID] <net>
  cnitool parallel [-n 50] [-del=true] [-netns p1,p2,...] [-id-prefix ID] <net>`

func env(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cnitool: "+format+"\n", args...)
	os.Exit(code)
}

// cniError keeps the CNI error code of the plugin that failed (libcni wraps it) and the full text.
type cniError struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details,omitempty"`
	Message string `json:"message"`
}

func toCNIError(err error) *cniError {
	out := &cniError{Code: 999, Msg: err.Error(), Message: err.Error()}
	var typed *types.Error
	if errors.As(err, &typed) {
		out.Code, out.Msg, out.Details = typed.Code, typed.Msg, typed.Details
	}
	return out
}

func loadNetwork(name string) (*libcni.NetworkConfigList, error) {
	file := os.Getenv("NETCONFFILE")
	if file == "" {
		return libcni.LoadConfList(env("NETCONFPATH", "/etc/cni/net.d"), name)
	}
	var list *libcni.NetworkConfigList
	var err error
	if strings.HasSuffix(file, ".conflist") {
		list, err = libcni.ConfListFromFile(file)
	} else {
		var conf *libcni.NetworkConfig
		if conf, err = libcni.ConfFromFile(file); err == nil {
			list, err = libcni.ConfListFromConf(conf)
		}
	}
	if err == nil && list.Name != name {
		err = fmt.Errorf("NETCONFFILE %s holds network %q, not %q", file, list.Name, name)
	}
	return list, err
}

func runtimeConf(netns, containerID string, index int) (*libcni.RuntimeConf, error) {
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: env("CNI_IFNAME", "eth0")}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		args = strings.ReplaceAll(args, "{i}", strconv.Itoa(index))
		for _, kv := range strings.Split(args, ";") {
			pair := strings.SplitN(kv, "=", 2)
			if len(pair) != 2 {
				return nil, fmt.Errorf("CNI_ARGS item %q is not K=V", kv)
			}
			rt.Args = append(rt.Args, [2]string{pair[0], pair[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			return nil, fmt.Errorf("CAP_ARGS is not a JSON object: %v", err)
		}
	}
	return rt, nil
}

// driver holds what every operation needs.
type driver struct {
	cni     *libcni.CNIConfig
	list    *libcni.NetworkConfigList
	timeout time.Duration
}

func (d *driver) run(op string, rt *libcni.RuntimeConf) (types.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	switch op {
	case "ADD":
		return d.cni.AddNetworkList(ctx, d.list, rt)
	case "CHECK":
		return nil, d.cni.CheckNetworkList(ctx, d.list, rt)
	default:
		return nil, d.cni.DelNetworkList(ctx, d.list, rt)
	}
}

// pinnedNetns is a network namespace held by one locked OS thread. The goroutine never unlocks,
// so when it returns the thread exits and the namespace goes with it (also if the driver dies).
type pinnedNetns struct {
	path    string
	release chan struct{}
}

func newPinnedNetns() (*pinnedNetns, error) {
	ns := &pinnedNetns{release: make(chan struct{})}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare(CLONE_NEWNET): %v (needs root)", err)
			return
		}
		ns.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), syscall.Gettid())
		ready <- nil
		<-ns.release
	}()
	return ns, <-ready
}

// namespaces returns n netns paths (given or made here) and a function that frees those made here.
func namespaces(n int, given string) ([]string, func(), error) {
	if given != "" {
		paths := strings.Split(given, ",")
		if len(paths) < n {
			return nil, nil, fmt.Errorf("-netns lists %d namespaces, %d needed", len(paths), n)
		}
		return paths[:n], func() {}, nil
	}
	var made []*pinnedNetns
	release := func() {
		for _, ns := range made {
			close(ns.release)
		}
	}
	paths := make([]string, 0, n)
	for i := 0; i < n; i++ {
		ns, err := newPinnedNetns()
		if err != nil {
			release()
			return nil, nil, err
		}
		made = append(made, ns)
		paths = append(paths, ns.path)
	}
	return paths, release, nil
}

type stats struct {
	N         int       `json:"n"`
	Failed    int       `json:"failed"`
	SamplesMs []float64 `json:"samplesMs"`
	MinMs     float64   `json:"minMs"`
	P50Ms     float64   `json:"p50Ms"`
	P90Ms     float64   `json:"p90Ms"`
	P99Ms     float64   `json:"p99Ms"`
	MaxMs     float64   `json:"maxMs"`
	MeanMs    float64   `json:"meanMs"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summarize uses nearest-rank percentiles over the successful operations, in run order samples.
func summarize(samples []float64, failed int) stats {
	s := stats{N: len(samples) + failed, Failed: failed, SamplesMs: samples}
	if len(samples) == 0 {
		s.SamplesMs = []float64{}
		return s
	}
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	rank := func(q float64) float64 {
		i := int(q*float64(len(sorted))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return sorted[i]
	}
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	s.MinMs, s.MaxMs, s.MeanMs = sorted[0], sorted[len(sorted)-1], sum/float64(len(sorted))
	s.P50Ms, s.P90Ms, s.P99Ms = rank(0.50), rank(0.90), rank(0.99)
	return s
}

type failure struct {
	Op          string    `json:"op"`
	Index       int       `json:"index"`
	ContainerID string    `json:"containerId"`
	Error       *cniError `json:"error"`
}

type multiFlags struct {
	n        int
	netns    string
	idPrefix string
	check    bool
	del      bool
}

func parseMulti(cmd string, args []string, defaultN int) (multiFlags, string) {
	var f multiFlags
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	fs.IntVar(&f.n, "n", defaultN, "number of containers")
	fs.StringVar(&f.netns, "netns", "", "comma-separated netns paths (default: made by the driver)")
	fs.StringVar(&f.idPrefix, "id-prefix", fmt.Sprintf("cnitool-%d", os.Getpid()), "container id prefix")
	if cmd == "bench" {
		fs.BoolVar(&f.check, "check", false, "CHECK each container after the ADDs")
	} else {
		fs.BoolVar(&f.del, "del", true, "DEL every container after the ADDs")
	}
	_ = fs.Parse(args)
	if fs.NArg() != 1 || f.n < 1 {
		fail(2, "%s needs one network name and -n >= 1\n%s", cmd, usage)
	}
	if cmd == "parallel" && !f.del && f.netns == "" {
		fail(2, "parallel -del=false needs -netns: the driver's own namespaces end with it")
	}
	return f, fs.Arg(0)
}

func (d *driver) bench(f multiFlags) (interface{}, bool) {
	paths, release, err := namespaces(f.n, f.netns)
	if err != nil {
		fail(1, "%v", err)
	}
	defer release()
	var failures []failure
	timed := func(op string) stats {
		var samples []float64
		failed := 0
		for i := 0; i < f.n; i++ {
			id := fmt.Sprintf("%s-%d", f.idPrefix, i)
			rt, err := runtimeConf(paths[i], id, i)
			if err == nil {
				start := time.Now()
				_, err = d.run(op, rt)
				if err == nil {
					samples = append(samples, ms(time.Since(start)))
					continue
				}
			}
			failed++
			failures = append(failures, failure{op, i, id, toCNIError(err)})
		}
		return summarize(samples, failed)
	}
	out := map[string]interface{}{"command": "bench", "network": d.list.Name, "n": f.n}
	out["add"] = timed("ADD")
	if f.check {
		out["check"] = timed("CHECK")
	}
	out["del"] = timed("DEL") // also after a failed ADD, as a runtime would
	if failures == nil {
		failures = []failure{}
	}
	out["failures"], out["ok"] = failures, len(failures) == 0
	return out, len(failures) == 0
}

type opResult struct {
	Index       int             `json:"index"`
	ContainerID string          `json:"containerId"`
	Netns       string          `json:"netns"`
	Ms          float64         `json:"ms"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       *cniError       `json:"error,omitempty"`
}

func (d *driver) parallel(f multiFlags) (interface{}, bool) {
	paths, release, err := namespaces(f.n, f.netns)
	if err != nil {
		fail(1, "%v", err)
	}
	defer release()
	ok := true
	all := func(op string) ([]opResult, float64) {
		results := make([]opResult, f.n)
		var wg sync.WaitGroup
		start := make(chan struct{}) // a barrier, so that the operations really overlap
		for i := 0; i < f.n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := opResult{Index: i, ContainerID: fmt.Sprintf("%s-%d", f.idPrefix, i), Netns: paths[i]}
				rt, err := runtimeConf(r.Netns, r.ContainerID, i)
				<-start
				t0 := time.Now()
				var res types.Result
				if err == nil {
					res, err = d.run(op, rt)
				}
				r.Ms = ms(time.Since(t0))
				if err == nil && res != nil {
					r.Result, err = json.Marshal(res)
				}
				if err != nil {
					r.Error = toCNIError(err)
				}
				results[i] = r
			}(i)
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		for _, r := range results {
			ok = ok && r.Error == nil
		}
		return results, ms(time.Since(t0))
	}
	out := map[string]interface{}{"command": "parallel", "network": d.list.Name, "n": f.n}
	out["add"], out["addWallMs"] = all("ADD")
	if f.del {
		out["del"], out["delWallMs"] = all("DEL")
	}
	out["ok"] = ok
	return out, ok
}

func printJSON(v interface{}) {
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(v); err != nil {
		fail(1, "writing output: %v", err)
	}
}

func main() {
	if len(os.Args) < 3 {
		fail(2, "%s", usage)
	}
	cmd := os.Args[1]
	timeout, err := time.ParseDuration(env("CNITOOL_TIMEOUT", "2m"))
	if err != nil {
		fail(2, "CNITOOL_TIMEOUT=%q is not a Go duration such as 30s", os.Getenv("CNITOOL_TIMEOUT"))
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(env("CNI_PATH", "/usr/lib/cni")),
		env("CNI_CACHE_DIR", "/var/lib/cni"), nil)
	if cmd == "version" {
		info, err := cni.GetVersionInfo(context.Background(), os.Args[2])
		if err != nil {
			printJSON(map[string]interface{}{"error": toCNIError(err)})
			os.Exit(1)
		}
		printJSON(map[string]interface{}{"supportedVersions": info.SupportedVersions()})
		return
	}
	var name string
	var f multiFlags
	switch cmd {
	case "add", "check", "del":
		if len(os.Args) < 4 || len(os.Args) > 5 {
			fail(2, "%s", usage)
		}
		name = os.Args[2]
	case "bench":
		f, name = parseMulti(cmd, os.Args[2:], 20)
	case "parallel":
		f, name = parseMulti(cmd, os.Args[2:], 50)
	default:
		fail(2, "unknown command %q\n%s", cmd, usage)
	}
	list, err := loadNetwork(name)
	if err != nil {
		fail(1, "loading network %q: %v", name, err)
	}
	d := &driver{cni: cni, list: list, timeout: timeout}
	var out interface{}
	var ok bool
	switch cmd {
	case "bench":
		out, ok = d.bench(f)
	case "parallel":
		out, ok = d.parallel(f)
	default:
		netns, id := os.Args[3], "cnitool-"+filepath.Base(os.Args[3])
		if len(os.Args) == 5 {
			id = os.Args[4]
		}
		rt, err := runtimeConf(netns, id, 0)
		if err != nil {
			fail(2, "%v", err)
		}
		res, err := d.run(strings.ToUpper(cmd), rt)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cnitool: %s %s: %v\n", strings.ToUpper(cmd), id, err)
			out = map[string]interface{}{"error": toCNIError(err)}
		} else if res != nil {
			out = res
		}
		ok = err == nil
	}
	if out != nil {
		printJSON(out)
	}
	if !ok {
		os.Exit(1)
	}
}
