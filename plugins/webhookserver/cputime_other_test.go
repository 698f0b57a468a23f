//go:build !unix

package webhookserver

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
