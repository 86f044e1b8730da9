package server

import (
	"fmt"
	"log/slog"
)

// cacheLogger adapts slog to go-control-plane's four-method logger; its debug chatter stays debug.
type cacheLogger struct{ l *slog.Logger }

func (c cacheLogger) Debugf(format string, args ...any) {
	c.l.Debug("xds: " + fmt.Sprintf(format, args...))
}
func (c cacheLogger) Infof(format string, args ...any) {
	c.l.Debug("xds: " + fmt.Sprintf(format, args...))
}
func (c cacheLogger) Warnf(format string, args ...any) {
	c.l.Warn("xds: " + fmt.Sprintf(format, args...))
}
func (c cacheLogger) Errorf(format string, args ...any) {
	c.l.Error("xds: " + fmt.Sprintf(format, args...))
}
