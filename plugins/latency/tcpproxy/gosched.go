package tcpproxy

import "runtime"

var runtimeGosched = runtime.Gosched
