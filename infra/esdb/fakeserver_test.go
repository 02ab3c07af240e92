package esdb_test

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeServer is an in-memory stand-in for one EventStoreDB node, speaking
// the part of the gRPC protocol the store uses: append with expected
// revisions, stream and $all reads in both directions, and $all
// subscriptions with an event-type filter. It models what the adapter
// relies on (revision checks, $all order, a read from a position returning
// that position again, system events in $all, the maximum append size,
// no resubscription) so the adapter's own logic can be tested without
// Docker. It is not EventStoreDB: the real server is tested through
// ESDB_URL.
type fakeServer struct {
	api.UnimplementedStreamsServer

	mu      sync.Mutex
	log     []fakeRecord
	streams map[string][]int // indexes into log
	changed chan struct{}    // closed and replaced on every append

	addr string
	srv  *grpc.Server
}

type fakeRecord struct {
	id       uuid.UUID
	stream   string
	revision uint64
	typ      string
	data     []byte
	meta     []byte // user (custom) metadata, kept as the server keeps it
	pos      uint64 // commit = prepare, like a single-event commit
	created  time.Time
}

const fakeMaxAppendSize = 1 << 20

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{streams: make(map[string][]int), changed: make(chan struct{})}
	// A real log never starts empty.
	f.appendLocked("$epochs", "$epoch-information", uuid.New(), []byte(`{}`))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	_ = l.Close() // the port is kept free until start: a server "not up yet"
	t.Cleanup(f.stop)
	return f
}

func (f *fakeServer) url() string {
	return "esdb://" + f.addr + "?tls=false&maxDiscoverAttempts=1&discoveryInterval=10"
}

func (f *fakeServer) start(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if l, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	api.RegisterStreamsServer(srv, f)
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (f *fakeServer) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (f *fakeServer) appendLocked(stream, typ string, id uuid.UUID, data []byte, meta ...byte) {
	rev := uint64(len(f.streams[stream]))
	pos := uint64(1000 + 200*len(f.log))
	f.streams[stream] = append(f.streams[stream], len(f.log))
	f.log = append(f.log, fakeRecord{id: id, stream: stream, revision: rev, typ: typ, data: data, meta: meta, pos: pos, created: time.Now()})
}

func (f *fakeServer) Append(s api.Streams_AppendServer) error {
	first, err := s.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "options first")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var proposed []*api.AppendReq_ProposedMessage
	size := 0
	for {
		m, err := s.Recv()
		if err != nil {
			break // io.EOF: the client closed its side
		}
		p := m.GetProposedMessage()
		size += len(p.GetData()) + len(p.GetCustomMetadata())
		proposed = append(proposed, p)
	}
	if size > fakeMaxAppendSize {
		return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded", fakeMaxAppendSize)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	revs := f.streams[stream]
	ok := true
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_NoStream:
		ok = len(revs) == 0
	case *api.AppendReq_Options_StreamExists:
		ok = len(revs) > 0
	case *api.AppendReq_Options_Revision:
		ok = len(revs) > 0 && uint64(len(revs)-1) == e.Revision
	}
	if !ok {
		w := &api.AppendResp_WrongExpectedVersion{}
		if len(revs) == 0 {
			w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		} else {
			w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(len(revs) - 1)}
		}
		return s.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}})
	}
	for _, p := range proposed {
		id, err := protoUUID(p.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		f.appendLocked(stream, p.GetMetadata()["type"], id, p.GetData(), p.GetCustomMetadata()...)
	}
	if len(f.log)%7 == 0 {
		// The server writes its own events into $all now and then.
		f.appendLocked("$stats-fake", "$statsCollected", uuid.New(), []byte(`{}`))
	}
	close(f.changed)
	f.changed = make(chan struct{})
	last := f.log[f.streams[stream][len(f.streams[stream])-1]]
	return s.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: last.pos, PreparePosition: last.pos}},
	}}})
}

func protoUUID(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		return esdb.ParseUUIDFromInt64(st.MostSignificantBits, st.LeastSignificantBits)
	}
	return uuid.Parse(u.GetString_())
}

func (f *fakeServer) Read(req *api.ReadReq, s api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o.GetSubscription() != nil {
		return f.subscribe(o, s)
	}
	f.mu.Lock()
	recs := f.selectLocked(o)
	f.mu.Unlock()
	if recs == nil {
		return s.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: o.GetStream().GetStreamIdentifier()}}})
	}
	for _, r := range recs {
		if err := s.Send(readEvent(r)); err != nil {
			return err
		}
	}
	return nil
}

// selectLocked returns the records a read asks for; nil for a missing
// stream.
func (f *fakeServer) selectLocked(o *api.ReadReq_Options) []fakeRecord {
	count := int(min(o.GetCount(), 1<<30))
	back := o.GetReadDirection() == api.ReadReq_Options_Backwards
	var idx []int
	if so := o.GetStream(); so != nil {
		idx = f.streams[string(so.GetStreamIdentifier().GetStreamName())]
		if len(idx) == 0 {
			return nil
		}
		switch {
		case so.GetEnd() != nil:
			if !back {
				idx = nil
			}
		case so.GetStart() != nil:
			if back {
				idx = nil
			}
		default:
			r := int(so.GetRevision())
			if back {
				idx = idx[:min(r+1, len(idx))]
			} else {
				idx = idx[min(r, len(idx)):]
			}
		}
	} else {
		ao := o.GetAll()
		all := make([]int, len(f.log))
		for i := range all {
			all[i] = i
		}
		idx = all
		if p := ao.GetPosition(); p != nil {
			k := 0
			for k < len(f.log) && f.log[k].pos < p.GetCommitPosition() {
				k++
			}
			if back {
				idx = all[:k] // backwards from a position: what lies before it
			} else {
				idx = all[k:] // forwards from a position: that position again, then the rest
			}
		} else if (ao.GetEnd() != nil && !back) || (ao.GetStart() != nil && back) {
			idx = nil
		}
	}
	out := make([]fakeRecord, 0, min(count, len(idx)))
	for k := range idx {
		if len(out) == count {
			break
		}
		i := idx[k]
		if back {
			i = idx[len(idx)-1-k]
		}
		out = append(out, f.log[i])
	}
	return out
}

// subscribe serves a $all subscription from the end: it confirms, then
// sends every later record the event-type filter lets through.
func (f *fakeServer) subscribe(o *api.ReadReq_Options, s api.Streams_ReadServer) error {
	if o.GetAll() == nil || o.GetAll().GetEnd() == nil {
		return status.Error(codes.Unimplemented, "the fake subscribes to $all from the end only")
	}
	var filter *regexp.Regexp
	if fo := o.GetFilter(); fo != nil && fo.GetEventType() != nil {
		filter = regexp.MustCompile(fo.GetEventType().GetRegex())
	}
	f.mu.Lock()
	next, changed := len(f.log), f.changed
	f.mu.Unlock()
	if err := s.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	for {
		select {
		case <-s.Context().Done():
			return s.Context().Err()
		case <-changed:
		}
		f.mu.Lock()
		recs := append([]fakeRecord(nil), f.log[next:]...)
		next, changed = len(f.log), f.changed
		f.mu.Unlock()
		for _, r := range recs {
			if filter != nil && !filter.MatchString(r.typ) {
				continue
			}
			if err := s.Send(readEvent(r)); err != nil {
				return err
			}
		}
	}
}

func readEvent(r fakeRecord) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_String_{String_: r.id.String()}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": "application/json",
				// .NET ticks (100 ns) since the Unix epoch, as the server sends.
				"created": strconv.FormatInt(r.created.UnixNano()/100, 10),
			},
			Data:           r.data,
			CustomMetadata: r.meta,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

// String helps failure messages.
func (r fakeRecord) String() string {
	return fmt.Sprintf("%s@%d %s #%d", r.stream, r.revision, r.typ, r.pos)
}
