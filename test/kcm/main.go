// kcm-harness: kcm's own code behind newline-delimited JSON on stdin/stdout, so that chaingate's
// TypeScript tests can compare chaingate with the real thing (see harness.ts, which builds and
// runs it). One request per line, one response line per request, in order:
//
//	{"op":"isValid","spec":{...TemplateChainSpec...}}          -> {"ok":bool,"warnings":[...]}
//	{"op":"upgradePaths","spec":{...},"template":"x"}          -> {"paths":[{"versions":[{"name","version"}]}]} | {"error":"template x not found"}
//	{"op":"semver","a":"1.2","b":"v1.2.0"}                     -> {"aValid":bool,"bValid":bool,"compare":-1|0|1|null}
//	{"op":"versions"}                                          -> {"go":"go1.x","modules":{"path":"version"}}
//
// A line that is not a valid request gets {"error":"...","malformed":true} (a panic in kcm's code,
// {"error":"panic: ...","panic":true}) and the process carries on; it exits
// when stdin closes. Nothing of kcm is copied here: its functions are called.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	kcmv1 "github.com/K0rdent/kcm/api/v1beta1"
	// The library (and, through go.mod, the version) kcm's internal/serviceset/util.go uses.
	"github.com/Masterminds/semver/v3"
)

type request struct {
	Op       string                   `json:"op"`
	Spec     *kcmv1.TemplateChainSpec `json:"spec"`
	Template *string                  `json:"template"`
	A        *string                  `json:"a"`
	B        *string                  `json:"b"`
}

type step struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type path struct {
	Versions []step `json:"versions"`
}

// errorResponse is kcm's own error (UpgradePaths' "template x not found") when Malformed and Panic
// are false; Malformed marks a line that was not a request this harness understands.
type errorResponse struct {
	Error     string `json:"error"`
	Malformed bool   `json:"malformed,omitempty"`
	Panic     bool   `json:"panic,omitempty"`
}

func malformed(format string, args ...any) errorResponse {
	return errorResponse{Error: "malformed request: " + fmt.Sprintf(format, args...), Malformed: true}
}

type isValidResponse struct {
	OK       bool     `json:"ok"`
	Warnings []string `json:"warnings"`
}

type upgradePathsResponse struct {
	Paths []path `json:"paths"`
}

type semverResponse struct {
	AValid  bool `json:"aValid"`
	BValid  bool `json:"bValid"`
	Compare *int `json:"compare"`
}

type versionsResponse struct {
	Go      string            `json:"go"`
	Modules map[string]string `json:"modules"`
}

func handle(line []byte) (resp any) {
	defer func() {
		if r := recover(); r != nil {
			resp = errorResponse{Error: fmt.Sprintf("panic: %v", r), Panic: true}
		}
	}()
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return malformed("%s", err)
	}
	switch req.Op {
	case "isValid":
		if req.Spec == nil {
			return malformed("isValid needs spec")
		}
		warnings, ok := req.Spec.IsValid()
		if warnings == nil {
			warnings = []string{}
		}
		return isValidResponse{OK: ok, Warnings: warnings}
	case "upgradePaths":
		if req.Spec == nil || req.Template == nil {
			return malformed("upgradePaths needs spec and template")
		}
		paths, err := req.Spec.UpgradePaths(*req.Template)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		out := make([]path, 0, len(paths))
		for _, p := range paths {
			steps := make([]step, 0, len(p.Versions))
			for _, v := range p.Versions {
				steps = append(steps, step{Name: v.Name, Version: v.Version})
			}
			out = append(out, path{Versions: steps})
		}
		return upgradePathsResponse{Paths: out}
	case "semver":
		if req.A == nil || req.B == nil {
			return malformed("semver needs a and b")
		}
		a, errA := semver.NewVersion(*req.A)
		b, errB := semver.NewVersion(*req.B)
		resp := semverResponse{AValid: errA == nil, BValid: errB == nil}
		if errA == nil && errB == nil {
			c := a.Compare(b)
			resp.Compare = &c
		}
		return resp
	case "versions":
		info, ok := debug.ReadBuildInfo()
		if !ok {
			return errorResponse{Error: "no build info"}
		}
		mods := map[string]string{}
		for _, m := range info.Deps {
			if m.Replace != nil {
				mods[m.Path] = m.Replace.Version
			} else {
				mods[m.Path] = m.Version
			}
		}
		return versionsResponse{Go: info.GoVersion, Modules: mods}
	default:
		return malformed("unknown op %q", req.Op)
	}
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	enc := json.NewEncoder(out) // Encode appends the newline
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if encErr := enc.Encode(handle(line)); encErr != nil {
				fmt.Fprintln(os.Stderr, "kcm-harness: encoding a response:", encErr)
				os.Exit(1)
			}
		} else if err == nil {
			// A blank line is not a request: answer it anyway, so that responses stay matched one to one.
			_ = enc.Encode(malformed("empty line"))
		}
		// Flush once no complete request is waiting: a pipelined burst is answered in few writes,
		// and a request whose tail has not arrived yet never holds back the answers before it.
		if err != nil || !completeLineBuffered(in) {
			if flushErr := out.Flush(); flushErr != nil {
				os.Exit(0) // the reader went away
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(os.Stderr, "kcm-harness: reading stdin:", err)
				os.Exit(1)
			}
			return
		}
	}
}

func completeLineBuffered(in *bufio.Reader) bool {
	buffered, _ := in.Peek(in.Buffered())
	return bytes.IndexByte(buffered, '\n') >= 0
}
