/**
 * A hostile peer for tests: speaks the cluster's wire by hand (the `PLS1` magic, then
 * `[u32 header_len][u32 body_len][header][body][attachments]`, bincode 2 headers: big-endian
 * varints, enum variants as their index) so tests can send what a real node never would.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';

/** bincode 2 varint, big-endian (values < 251 in one byte, then 251/252/253 + u16/u32/u64). */
function varint(n: bigint | number): Buffer {
  const v = BigInt(n);
  if (v < 251n) return Buffer.from([Number(v)]);
  if (v <= 0xffffn) { const b = Buffer.alloc(3); b[0] = 251; b.writeUInt16BE(Number(v), 1); return b; }
  if (v <= 0xffffffffn) { const b = Buffer.alloc(5); b[0] = 252; b.writeUInt32BE(Number(v), 1); return b; }
  const b = Buffer.alloc(9); b[0] = 253; b.writeBigUInt64BE(v, 1); return b;
}
const str = (s: string) => { const b = Buffer.from(s); return Buffer.concat([varint(b.length), b]); };
const bool = (x: boolean) => Buffer.from([x ? 1 : 0]);
const vec = (items: Buffer[]) => Buffer.concat([varint(items.length), ...items]);
const node = (hex: string) => varint(BigInt(`0x${hex}`));

/** Header variants, in declaration order of `transport::frame::Header`. */
export const header = {
  // The last byte is `to` (an `Option<NodeId>`, the node dialed for): 0, none (an address).
  hello: (nodeId: string, addr: string, bulk = false) => Buffer.concat([varint(0), node(nodeId), str(addr), bool(bulk), varint(0)]),
  // The last byte is the `trace` (an `Option<String>`): 0, none.
  askName: (req: number, name: string) => Buffer.concat([varint(1), varint(req), varint(1), str(name), str('msgpack'), varint(0)]),
  askLocal: (req: number, local: number) => Buffer.concat([varint(1), varint(req), varint(0), varint(local), str('msgpack'), varint(0)]),
  reply: (req: number) => Buffer.concat([varint(3), varint(req), str('msgpack')]),
  gossip: () => varint(9),
};

export type Liveness = 'Alive' | 'Suspect' | 'Dead' | 'Left';
const LIVENESS: Liveness[] = ['Alive', 'Suspect', 'Dead', 'Left'];

/** A `MemberState`. */
export function member(nodeId: string, addr: string, liveness: Liveness, incarnation: bigint | number): Buffer {
  return Buffer.concat([node(nodeId), str(addr), varint(LIVENESS.indexOf(liveness)), varint(incarnation)]);
}

/** A `NameEntry`. */
export function nameEntry(name: string, nodeId: string, local: number, version: number): Buffer {
  return Buffer.concat([str(name), node(nodeId), varint(local), vec([]), varint(version), bool(false)]);
}

/** Gossip bodies, in declaration order of `cluster::gossip::Gossip`. */
export const gossip = {
  sync: (members: Buffer[], reply = false) => Buffer.concat([varint(3), vec(members), vec([]), bool(reply)]),
  /** A `Ping` piggybacking name updates. */
  pingWithNames: (seq: number, names: Buffer[]) => Buffer.concat([varint(0), varint(seq), vec(names.map((n) => Buffer.concat([varint(1), n])))]),
  pingWithMembers: (seq: number, members: Buffer[]) => Buffer.concat([varint(0), varint(seq), vec(members.map((m) => Buffer.concat([varint(0), m])))]),
};

/** One frame's bytes: the header (with attachment lengths) and the body; attachments are not included. */
export function frame(head: Buffer, body: Buffer | number = Buffer.alloc(0), attachments: number[] = []): Buffer {
  const h = Buffer.concat([head, vec(attachments.map((a) => varint(a)))]);
  const bodyLen = typeof body === 'number' ? body : body.length;
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(h.length, 0);
  prefix.writeUInt32BE(bodyLen, 4);
  return typeof body === 'number' ? Buffer.concat([prefix, h]) : Buffer.concat([prefix, h, body]);
}

/** A raw connection to `addr`; `received` collects what the node sends back. */
export async function connect(addr: string): Promise<{ sock: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  const sock = net.connect(port, host);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const chunks: Buffer[] = [];
  sock.on('data', (d) => chunks.push(d));
  sock.on('error', () => { /* the node may reset us: that is what some tests expect */ });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return { sock, received: () => Buffer.concat(chunks), closed };
}

/** The magic and a Hello claiming `nodeId`. */
export function handshake(nodeId: string, addr = '127.0.0.1:9'): Buffer {
  return Buffer.concat([Buffer.from('PLS1'), frame(header.hello(nodeId, addr))]);
}

/** Decode the frames in `buf` (after the magic) as [variant index, header bytes, body]. */
export function frames(buf: Buffer): { variant: number; head: Buffer; body: Buffer }[] {
  const out: { variant: number; head: Buffer; body: Buffer }[] = [];
  let p = 4;
  while (p + 8 <= buf.length) {
    const hl = buf.readUInt32BE(p);
    const bl = buf.readUInt32BE(p + 4);
    if (p + 8 + hl + bl > buf.length) break;
    const head = buf.subarray(p + 8, p + 8 + hl);
    out.push({ variant: head[0], head, body: buf.subarray(p + 8 + hl, p + 8 + hl + bl) });
    p += 8 + hl + bl;
  }
  return out;
}

/** RSS of a process in bytes, from /proc. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
  return kb * 1024;
}
