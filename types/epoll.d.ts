// The part of epoll 4.x (https://github.com/fivdi/epoll) that drivers/real/gpio-cdev.ts uses; the package
// ships no types and is installed as onoff's dependency. It is CommonJS: module.exports is the default export.
// One thread of its own waits in epoll_wait and hands each event to the event loop, so no libuv pool thread is
// held while nothing happens.
declare module "epoll" {
  export class Epoll {
    static readonly EPOLLIN: number;
    static readonly EPOLLPRI: number;
    /** `callback` runs on the event loop for each event; the next wait starts once it returns. */
    constructor(callback: (error: Error | null, fd: number, events: number) => void);
    add(fd: number, events: number): this;
    remove(fd: number): this;
    close(): void;
  }

  const epoll: { Epoll: typeof Epoll };
  export default epoll;
}
