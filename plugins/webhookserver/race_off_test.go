//go:build !race

package webhookserver_test

const raceEnabled = false
