// Readings taken while the store cannot open (a start on a full disk: agent/store-open.ts). The sensors are
// sampled all the same, and their readings wait here, in memory, within the bound the store keeps on readings it
// cannot commit: past it the oldest go first, counted per sensor. They have no sequence numbers yet: a number
// comes from the store, whose last numbers are unknown until it opens (numbers given blind could reuse item ids
// already on the nodes). Once it opens they are handed to it in the order taken, and it numbers them.
//
// Each reading keeps the clock state it was taken under (marked `unsynced` with the clock's offset and boot while
// the clock is not trusted), so that the store corrects it like any reading it took itself once the clock is
// synchronized; the clock's state at the hand-over does not matter.
//
// Control requests answered meanwhile (all refused: the actuators stay closed until the agent starts) wait here
// too, for the store's audit trail, which must not lose a request.
import type { Sample } from "../lib/model.ts";
import type { ClockState } from "./clock-watch.ts";
import type { AuditEntry } from "./control.ts";
import type { ReadingSink } from "./sampler.ts";
import { takenUnder, type ClockedSample, type Store } from "./store.ts";

export interface HeldBeforeOpenOptions {
  /** At most this many readings are held (agent/store.ts heldBound). */
  maxHeld: number;
  clock: ClockState;
  /** Called when the bound drops held readings (the oldest first), with how many, per sensor. */
  onLost?: (bySensor: ReadonlyMap<string, number>) => void;
}

/** Most audit entries held: each is clipped (agent/control.ts), so this is a few hundred kB at worst. */
export const MAX_HELD_AUDITS = 1_000;

/** What a hand-over gave the store. */
export interface HandedOver {
  /** Readings appended, in the order taken. */
  readings: number;
  /** Readings the bound dropped before the store opened, per sensor. */
  lostBySensor: ReadonlyMap<string, number>;
  /** The control requests' audit entries, oldest first, for the caller to write (the store writes them async). */
  audits: AuditEntry[];
  /** Audit entries the bound dropped (the oldest). */
  auditsLost: number;
}

export class HeldBeforeOpen implements ReadingSink {
  private readonly samples: ClockedSample[] = [];
  /** Each sensor's latest error change (undefined error: it works again), for the store's sensor errors. */
  private readonly sensorErrors = new Map<string, { error?: string; since?: Date }>();
  private readonly lostBySensor = new Map<string, number>();
  private readonly audits: AuditEntry[] = [];
  private auditsLost = 0;

  constructor(private readonly options: HeldBeforeOpenOptions) {}

  /** Holds the sample under the clock's state now; no number yet, so no reading is returned. */
  append(sample: Sample): undefined {
    this.samples.push(takenUnder(sample, this.options.clock));
    const excess = this.samples.length - this.options.maxHeld;
    if (excess <= 0) return undefined;
    const lost = new Map<string, number>();
    for (const dropped of this.samples.splice(0, excess)) lost.set(dropped.sensorId, (lost.get(dropped.sensorId) ?? 0) + 1);
    for (const [sensorId, n] of lost) this.lostBySensor.set(sensorId, (this.lostBySensor.get(sensorId) ?? 0) + n);
    this.options.onLost?.(lost);
    return undefined;
  }

  setSensorError(sensorId: string, error?: string, since?: Date): void {
    this.sensorErrors.set(sensorId, { error, since });
  }

  /** Holds a control request's audit entry until the store opens; past MAX_HELD_AUDITS the oldest go. */
  holdAudit(entry: AuditEntry): Promise<void> {
    this.audits.push(entry);
    if (this.audits.length > MAX_HELD_AUDITS) {
      this.audits.shift();
      this.auditsLost += 1;
    }
    return Promise.resolve();
  }

  /** Readings held now. */
  get held(): number {
    return this.samples.length;
  }

  /** Readings the bound dropped. */
  get lost(): number {
    let total = 0;
    for (const n of this.lostBySensor.values()) total += n;
    return total;
  }

  /**
   * Gives the store everything held, in the order taken (it numbers them), the count of those lost, and the
   * sensors' errors; holds nothing afterwards. The caller points the sampler at the store in the same step, and
   * writes the audit entries it gets back.
   */
  handTo(store: Pick<Store, "appendHeld" | "setSensorError">): HandedOver {
    const handed = { readings: this.samples.length, lostBySensor: new Map(this.lostBySensor), audits: this.audits.splice(0), auditsLost: this.auditsLost };
    this.auditsLost = 0;
    store.appendHeld(this.samples, this.lost);
    for (const [sensorId, { error, since }] of this.sensorErrors) store.setSensorError(sensorId, error, since);
    this.samples.length = 0;
    this.sensorErrors.clear();
    this.lostBySensor.clear();
    return handed;
  }
}
