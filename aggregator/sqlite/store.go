// Package sqlite is the SQLite implementation of aggregator.Store. It is the
// only importer of github.com/mattn/go-sqlite3 (cgo).
//
// One writer connection serialises every write; a pool of query-only
// connections serves reads concurrently (WAL). Entries are keyed by
// (file_id, byte_offset) where a file row is (source, fingerprint), so the
// UNIQUE constraint enforces the identity of SPEC §4. Deliveries are derived
// in the same transaction as the entries that change them.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/hooktail/hooktail/aggregator"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ aggregator.Store = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// DeliveryTimeout is how far a source's newest event time must be past an
	// unfinished attempt's last entry for the attempt to show as timeout.
	// Zero disables the timeout state.
	DeliveryTimeout time.Duration
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
	// ReadConns bounds the read connection pool; zero means
	// max(4, GOMAXPROCS).
	ReadConns int
}

// Store is an aggregator.Store on one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	log     *slog.Logger
	timeout time.Duration
	wdb     *sql.DB // exactly one connection: every write goes through it
	rdb     *sql.DB // query-only connections
	cdb     *sql.DB // the checkpointer's connection
	stmts   map[stmtID]*sql.Stmt

	dirty chan struct{} // wakes the checkpointer
	stop  context.CancelFunc
	wg    sync.WaitGroup

	// mu serialises Ingest and guards the id caches, which only ever hold
	// committed rows.
	mu      sync.Mutex
	sources map[string]int64
	files   map[fileKey]int64

	closeOnce sync.Once
	closeErr  error
}

type fileKey struct {
	source      int64
	fingerprint int64
}

// Open opens (creating if needed) the database at path and migrates it to
// the newest schema.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "sqlite")
	s := &Store{
		log:     log,
		timeout: opts.DeliveryTimeout,
		sources: make(map[string]int64),
		files:   make(map[fileKey]int64),
		dirty:   make(chan struct{}, 1),
	}
	if err := initFile(ctx, path); err != nil {
		return nil, err
	}
	var err error
	s.wdb, err = sql.Open("sqlite3", dsn(path, url.Values{
		"_journal_mode": {"WAL"},
		"_busy_timeout": {"10000"},
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
		"_cache_size":   {"-65536"},
	}))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer %q: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	// Checkpoints run in the background (checkpointer), not in the commit
	// of an ingest batch. Should the writer connection ever be replaced,
	// the new one checkpoints automatically again, which is only slower.
	// Temporary b-trees and journals stay in memory.
	if err := pragmas(ctx, s.wdb, "PRAGMA wal_autocheckpoint = 0", "PRAGMA temp_store = MEMORY"); err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("set up sqlite writer: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.wdb.Close()
		return nil, err
	}
	s.rdb, err = sql.Open("sqlite3", dsn(path, url.Values{
		"_busy_timeout": {"10000"},
		"_query_only":   {"1"},
		"_foreign_keys": {"1"},
		"_cache_size":   {"-32768"},
	}))
	if err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("open sqlite readers %q: %w", path, err)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	s.rdb.SetMaxOpenConns(n)
	s.rdb.SetMaxIdleConns(n)
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.cdb, err = sql.Open("sqlite3", dsn(path, url.Values{"_busy_timeout": {"10000"}}))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite checkpointer %q: %w", path, err)
	}
	s.cdb.SetMaxOpenConns(1)
	var runCtx context.Context
	runCtx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Go(func() { s.checkpointer(runCtx) })
	log.Info("sqlite store open", "path", path)
	return s, nil
}

// pageSize is the page size of a new database. 8 KiB pages halve the WAL
// frames (and B-tree pages) an ingest batch writes compared to 4 KiB; the
// size of an existing database cannot change in WAL mode and is kept.
const pageSize = 8192

// initFile gives a new database file its page size, which has to be set
// before the first write and so before WAL mode (mattn sets the journal
// mode as it connects, so the writer DSN cannot do it).
func initFile(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", dsn(path, url.Values{"_busy_timeout": {"10000"}}))
	if err != nil {
		return fmt.Errorf("open sqlite %q: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := pragmas(ctx, db, fmt.Sprintf("PRAGMA page_size = %d", pageSize), "PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("initialise sqlite %q: %w", path, err)
	}
	return nil
}

// pragmas runs statements on db (one connection) in order.
func pragmas(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// checkpointInterval is the least time between two background checkpoints.
const checkpointInterval = 250 * time.Millisecond

// checkpointer copies the WAL back into the database after writes, with a
// connection of its own so that commits never wait for it (PASSIVE
// checkpoints neither block the writer nor readers).
func (s *Store) checkpointer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		}
		if _, err := s.cdb.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
			s.log.Warn("wal checkpoint", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointInterval):
		}
	}
}

// wrote tells the checkpointer that the WAL grew.
func (s *Store) wrote() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// dsn builds a mattn DSN: a file: URI with the path escaped, plus params.
func dsn(path string, params url.Values) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()
}

// migrate applies the embedded migrations newer than PRAGMA user_version,
// each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("migration %q: bad version prefix: %w", name, err)
		}
		ms = append(ms, migration{v, name})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for _, m := range ms {
		if m.version <= version {
			continue
		}
		body, err := migrationFS.ReadFile(m.name)
		if err != nil {
			return fmt.Errorf("read migration %q: %w", m.name, err)
		}
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin migration %q: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("apply migration %q: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("set schema version %d: %w", m.version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit migration %q: %w", m.name, err)
		}
		s.log.Info("schema migrated", "version", m.version)
	}
	return nil
}

// Close releases the store. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
			s.wg.Wait()
		}
		var errs []error
		if s.cdb != nil {
			errs = append(errs, s.cdb.Close())
		}
		for _, st := range s.stmts {
			errs = append(errs, st.Close())
		}
		if s.rdb != nil {
			errs = append(errs, s.rdb.Close())
		}
		if s.wdb != nil {
			// Keep the planner's statistics fresh for the next start and
			// leave no WAL behind.
			for _, pragma := range []string{"PRAGMA optimize", "PRAGMA wal_checkpoint(TRUNCATE)"} {
				if _, err := s.wdb.Exec(pragma); err != nil {
					s.log.Warn("close pragma", "pragma", pragma, "error", err)
				}
			}
			errs = append(errs, s.wdb.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close sqlite store: %w", err)
		}
	})
	return s.closeErr
}

// Ping checks that the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Stats are counts of what the store holds.
type Stats struct {
	Entries    int64
	Summaries  int64
	Deliveries int64
	Sources    int64
	Files      int64
	// SizeBytes is the main database file's size (without the WAL).
	SizeBytes int64
}

// Stats counts rows exactly; it scans the smallest index of each table, so
// it costs tens of milliseconds per million entries.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM entries), (SELECT count(*) FROM summaries),
		(SELECT count(*) FROM deliveries), (SELECT count(*) FROM sources),
		(SELECT count(*) FROM files),
		(SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())`).
		Scan(&st.Entries, &st.Summaries, &st.Deliveries, &st.Sources, &st.Files, &st.SizeBytes)
	if err != nil {
		return Stats{}, fmt.Errorf("read store stats: %w", err)
	}
	return st, nil
}
