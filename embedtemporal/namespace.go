package embedtemporal

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/common/searchattribute/sadefs"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// ensureNamespace creates namespace ns in the database, or, when it exists,
// adds whichever of SearchAttributes it lacks. It runs before the server
// starts, so the server loads the namespace as it is now and no
// namespace-cache refresh is waited for; on a database that has it all
// already, it only reads.
//
// Custom search attributes in SQL visibility are aliases, kept in the
// namespace, of preallocated columns (Keyword01..Keyword10): adding one is
// choosing a free column of its type.
func ensureNamespace(ctx context.Context, cfg *config.SQL, ns string) error {
	db, err := sql.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()

	row, detail, err := readNamespace(ctx, db, ns)
	if errors.Is(err, stdsql.ErrNoRows) {
		nsCfg, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
		if err != nil {
			return err
		}
		aliases, err := addAliases(nil)
		if err != nil {
			return err
		}
		nsCfg.Detail.Config.CustomSearchAttributeAliases = aliases
		return sqliteschema.CreateNamespaces(cfg, nsCfg)
	}
	if err != nil {
		return err
	}

	aliases := detail.GetConfig().GetCustomSearchAttributeAliases()
	updated, err := addAliases(aliases)
	if err != nil {
		return err
	}
	if len(updated) == len(aliases) {
		return nil
	}
	detail.Config.CustomSearchAttributeAliases = updated
	blob, err := serialization.NewSerializer().NamespaceDetailToBlob(detail)
	if err != nil {
		return err
	}
	row.Data = blob.GetData()
	row.DataEncoding = blob.GetEncodingType().String()
	_, err = db.UpdateNamespace(ctx, &row)
	return err
}

// readNamespace reads namespace ns's row and decodes its detail; the error
// is sql.ErrNoRows when there is no such namespace.
func readNamespace(ctx context.Context, db sqlplugin.DB, ns string) (sqlplugin.NamespaceRow, *persistencespb.NamespaceDetail, error) {
	rows, err := db.SelectFromNamespace(ctx, sqlplugin.NamespaceFilter{Name: &ns})
	if err == nil && len(rows) == 0 {
		err = stdsql.ErrNoRows
	}
	if err != nil {
		return sqlplugin.NamespaceRow{}, nil, err
	}
	encoding, err := enumspb.EncodingTypeFromString(rows[0].DataEncoding)
	if err != nil {
		return sqlplugin.NamespaceRow{}, nil, err
	}
	detail, err := serialization.NewSerializer().NamespaceDetailFromBlob(&commonpb.DataBlob{
		Data:         rows[0].Data,
		EncodingType: encoding,
	})
	return rows[0], detail, err
}

// addAliases returns field→alias with every name of SearchAttributes that is
// not an alias yet mapped to the first free Keyword column. It never changes
// an existing mapping, so data indexed under it stays findable.
func addAliases(fieldToAlias map[string]string) (map[string]string, error) {
	out := maps.Clone(fieldToAlias)
	if out == nil {
		out = map[string]string{}
	}
	have := map[string]bool{}
	for _, alias := range out {
		have[alias] = true
	}
	var free []string
	for field, t := range sadefs.GetDBIndexSearchAttributes(nil).CustomSearchAttributes {
		if _, used := out[field]; !used && t == enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			free = append(free, field)
		}
	}
	slices.Sort(free)
	for _, name := range SearchAttributes {
		if have[name] {
			continue
		}
		if len(free) == 0 {
			return nil, fmt.Errorf("no free Keyword column left for search attribute %s", name)
		}
		out[free[0]] = name
		free = free[1:]
	}
	return out, nil
}
