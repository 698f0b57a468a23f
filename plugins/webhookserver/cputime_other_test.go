//go:build !unix

package webhookserver_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
