package main

import (
	"runtime"
	"strings"
)

// aclSite says why mochi asked OnACLCheck(write=false).
type aclSite int

const (
	siteUnknown   aclSite = iota
	siteSubscribe         // a filter of a SUBSCRIBE packet: iot:Subscribe on topicfilter/<filter>
	siteDeliver           // a message about to be sent to a subscriber: iot:Receive on topic/<topic>
)

const mochiServer = "github.com/mochi-mqtt/server/v2.(*Server)."

// readACLCallSite finds which mochi method is asking. mochi uses the same hook, with the same
// arguments, for a SUBSCRIBE filter and for each delivery, while IoT Core authorises the two
// with different actions on different resources; a filter without wildcards looks exactly
// like a topic, and the calls come from different goroutines concurrently, so the calling
// frame is the only reliable way to tell them apart. mochi is pinned in go.sum, and the
// broker refuses whatever it cannot place (siteUnknown), so a renamed method fails closed.
func readACLCallSite() aclSite {
	var pcs [24]uintptr
	// Skip runtime.Callers and this function; the hook and mochi's dispatcher follow.
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		frame, more := frames.Next()
		if method, ok := strings.CutPrefix(frame.Function, mochiServer); ok {
			switch method {
			// The nearest match decides: retained messages sent on subscribe go through
			// publishToClient called from processSubscribe, and they are deliveries.
			case "publishToClient":
				return siteDeliver
			case "processSubscribe":
				return siteSubscribe
			}
		}
		if !more {
			return siteUnknown
		}
	}
}
