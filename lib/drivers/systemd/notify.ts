/**
 * The systemd notification protocol (sd_notify): datagrams such as
 * `READY=1` or `WATCHDOG=1` sent to the unix socket named by
 * `NOTIFY_SOCKET`. Deno has no stable unix datagram socket, so this sends
 * through libc (FFI, as the btrfs driver already needs).
 *
 * @module
 */

const _AF_UNIX = 1;
const _SOCK_DGRAM = 2;
const _SOCK_CLOEXEC = 0o2000000;
const _MSG_NOSIGNAL = 0x4000;
// struct sockaddr_un: sa_family_t (2 bytes), then sun_path[108].
const _SUN_PATH = 108;

const _SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

let _libc: Deno.DynamicLibrary<typeof _SYMBOLS>["symbols"] | null = null;

function _lib() {
  _libc ??= Deno.dlopen("libc.so.6", _SYMBOLS).symbols;
  return _libc;
}

/**
 * The `struct sockaddr_un` of a `NOTIFY_SOCKET` value: a path, or with a
 * leading `@` a name in the abstract namespace.
 *
 * @param socket The variable's value.
 * @returns The address bytes (exactly as long as the address).
 * @throws {RangeError} When the path does not fit.
 */
export function unixAddress(socket: string): Uint8Array<ArrayBuffer> {
  const abstract = socket.startsWith("@");
  const name = new TextEncoder().encode(abstract ? socket.slice(1) : socket);
  // The abstract namespace starts with a NUL byte; a path ends with one.
  const pathLength = name.length + 1;
  if (pathLength > _SUN_PATH) {
    throw new RangeError(`NOTIFY_SOCKET is too long: ${socket}`);
  }
  const addr = new Uint8Array(2 + pathLength);
  new DataView(addr.buffer).setUint16(0, _AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return abstract ? addr.subarray(0, 2 + pathLength) : addr;
}

/**
 * Sends one notification (`READY=1`, `WATCHDOG=1`, `STATUS=...`, several
 * separated by newlines) to the service manager.
 *
 * @param state The datagram's text.
 * @param socket The `NOTIFY_SOCKET` value; nothing is sent when empty.
 * @returns Whether it was sent.
 */
export function sdNotify(state: string, socket: string | undefined): boolean {
  if (!socket) return false;
  const lib = _lib();
  const fd = lib.socket(_AF_UNIX, _SOCK_DGRAM | _SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    const data = new TextEncoder().encode(state);
    const addr = unixAddress(socket);
    const n = lib.sendto(
      fd,
      data,
      BigInt(data.length),
      _MSG_NOSIGNAL,
      addr,
      addr.length,
    );
    return Number(n) === data.length;
  } finally {
    lib.close(fd);
  }
}
