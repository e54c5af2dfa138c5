package embedtemporal

import (
	"io"
	"reflect"
	"unsafe"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
)

// sqliteCloser returns what really closes the SQLite database of cfg, or
// nil if it cannot be reached.
//
// The server's SQLite plugin shares one *sqlx.DB per DSN among all its
// users and never closes it (see its conn_pool.go: closing "would lose the
// cache"), so an in-memory database, its connection and a goroutine would
// outlive Stop for the life of the process (a few MB per server in a test
// binary that starts many), and a database file would stay open. Its handle is the unexported field db of the
// plugin's connection type; this reads it through reflection and checks its
// type, so a server version that changes it only brings the leak back.
//
// Closing it is safe because every server's DSN is unique (see dsnSeq): no
// later server is handed the closed handle from the plugin's pool.
func sqliteCloser(cfg *config.SQL) io.Closer {
	db, err := sql.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return nil
	}
	defer func() { _ = db.Close() }() // drops the reference just taken

	v := reflect.ValueOf(db)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().String() != "*sqlx.DB" || f.IsNil() {
		return nil
	}
	c, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(io.Closer)
	return c
}
