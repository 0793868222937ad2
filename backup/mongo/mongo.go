// Package mongo backs up a MongoDB collection (the drawings) as an export through the Go driver: the
// documents' BSON, one after another, as mongodump writes them (no mongo-tools package is needed).
//
// Each drawing is one document and MongoDB writes a document atomically, so every drawing is either
// whole in the export or not in it; the export is not one snapshot of the whole collection (a drawing
// saved while it runs may or may not be in it), which is what a drawing store needs.
package mongo

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qcloud-applet/applet/backup"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// File is the export's name in a backup.
const File = "collection.bson"

// Store implements backup.Store and backup.Checker on one collection.
type Store struct {
	name   string
	client *mongo.Client
	coll   *mongo.Collection
}

var (
	_ backup.Store   = (*Store)(nil)
	_ backup.Checker = (*Store)(nil)
)

// New connects to uri for the collection database.collection, backed up under name.
func New(name, uri, database, collection string) (*Store, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second).SetConnectTimeout(10 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	return &Store{name: name, client: client, coll: client.Database(database).Collection(collection)}, nil
}

func (s *Store) Name() string { return s.name }
func (s *Store) Kind() string { return "mongo" }

// Close disconnects.
func (s *Store) Close() error { return s.client.Disconnect(context.Background()) }

// Dump exports every document in _id order.
func (s *Store) Dump(ctx context.Context, w backup.Writer) (backup.Mark, error) {
	cur, err := s.coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.coll.Name(), err)
	}
	defer cur.Close(ctx)
	mark := backup.Mark{"documents": 0, "updatedAt": 0}
	err = backup.Stream(w, File, 0o600, func(bw *bufio.Writer) error {
		for cur.Next(ctx) {
			if _, err := bw.Write(cur.Current); err != nil {
				return err
			}
			mark["documents"]++
			if at, ok := cur.Current.Lookup("updatedAt").DateTimeOK(); ok && at > mark["updatedAt"] {
				mark["updatedAt"] = at
			}
		}
		return cur.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("exporting %s: %w", s.coll.Name(), err)
	}
	return mark, nil
}

// Newer reports a drawing saved after the newest one in the backup.
func (s *Store) Newer(ctx context.Context, was *backup.StoreEntry) (string, error) {
	var doc bson.Raw
	err := s.coll.FindOne(ctx, bson.D{{Key: "updatedAt", Value: bson.D{{Key: "$gt", Value: bson.DateTime(was.Mark["updatedAt"])}}}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	at, _ := doc.Lookup("updatedAt").DateTimeOK()
	return fmt.Sprintf("a document was saved at %s, after the backup's newest (%s)",
		time.UnixMilli(at).UTC().Format(time.RFC3339), time.UnixMilli(was.Mark["updatedAt"]).UTC().Format(time.RFC3339)), nil
}

// Restore empties the collection and inserts the backup's documents; run again, it does the same, so
// a killed restore is finished by the next. The backends are stopped meanwhile; the app makes its
// index again when it starts.
func (s *Store) Restore(ctx context.Context, r backup.Reader) error {
	if _, err := s.coll.DeleteMany(ctx, bson.D{}); err != nil {
		return fmt.Errorf("emptying %s: %w", s.coll.Name(), err)
	}
	return s.each(ctx, r, func(batch []any) error {
		_, err := s.coll.InsertMany(ctx, batch)
		return err
	})
}

// Check reads every document of the export and checks it is valid BSON.
func (s *Store) Check(ctx context.Context, r backup.Reader) error {
	return s.each(ctx, r, func([]any) error { return nil })
}

// each reads the export's documents in batches of at most 8 MiB.
func (s *Store) each(ctx context.Context, r backup.Reader, fn func([]any) error) error {
	if len(r.Files()) == 0 {
		return nil
	}
	rc, err := r.Open(ctx, File)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	var batch []any
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(batch)
		batch, size = nil, 0
		return err
	}
	for {
		var head [4]byte
		if _, err := io.ReadFull(br, head[:]); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(head[:])
		if n < 5 || n > 48<<20 {
			return fmt.Errorf("%s: a document of %d bytes: damaged", File, n)
		}
		doc := make([]byte, n)
		copy(doc, head[:])
		if _, err := io.ReadFull(br, doc[4:]); err != nil {
			return err
		}
		if err := bson.Raw(doc).Validate(); err != nil {
			return fmt.Errorf("%s: %w", File, err)
		}
		batch = append(batch, bson.Raw(doc))
		size += len(doc)
		if size >= 8<<20 || len(batch) >= 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	// Reading to the end checked the export's digest.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	return flush()
}
