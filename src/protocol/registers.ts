/**
 * The inverter register map of the field firmware (PROTOCOL.md §4.1): RegID, Modbus address,
 * names in the three spellings found in the field, gain and unit.
 */

export interface Register {
  readonly id: number;
  readonly address: number;
  /** REGISTER_MAP name the device uses in /changes (`Vac1`). */
  readonly name: string;
  /** Upload `register_mapping` / MQTT spelling (`REG_VAC1`). */
  readonly regName: string;
  /** Field dashboards (Node-RED) spelling (`VAC1`). */
  readonly upperName: string;
  readonly description: string;
  readonly unit: string;
  /** Scaled value = raw × multiplier / divisor. */
  readonly divisor: number;
  readonly multiplier: number;
}

function reg(
  id: number,
  name: string,
  description: string,
  unit: string,
  divisor: number,
  multiplier = 1,
): Register {
  const upperName = name.toUpperCase();
  return {
    id,
    address: id,
    name,
    regName: `REG_${upperName}`,
    upperName,
    description,
    unit,
    divisor,
    multiplier,
  };
}

export const REGISTERS: readonly Register[] = Object.freeze([
  reg(0, 'Vac1', 'L1 phase voltage', 'V', 10),
  reg(1, 'Iac1', 'L1 phase current', 'A', 10),
  reg(2, 'Fac1', 'L1 phase frequency', 'Hz', 100),
  reg(3, 'Vpv1', 'PV1 input voltage', 'V', 10),
  reg(4, 'Vpv2', 'PV2 input voltage', 'V', 10),
  reg(5, 'Ipv1', 'PV1 input current', 'A', 10),
  reg(6, 'Ipv2', 'PV2 input current', 'A', 10),
  reg(7, 'Temp', 'inverter internal temperature', '°C', 10),
  reg(8, 'Pow', 'export power limit', '%', 1),
  reg(9, 'Pac', 'inverter output power', 'W', 1),
]);

export const REGISTER_COUNT = REGISTERS.length;

/** The layout every batch packet uses, whatever `register_layout` claims (§3.2). */
export const BATCH_LAYOUT: readonly number[] = Object.freeze([0, 1, 5, 9, 6, 7]);
export const BATCH_SAMPLES = 5;
/** RegIDs of all 30 positions of a batch packet, sample-major. */
export const BATCH_POSITIONS: readonly number[] = Object.freeze(
  Array.from(
    { length: BATCH_SAMPLES * BATCH_LAYOUT.length },
    (_, i) => BATCH_LAYOUT[i % BATCH_LAYOUT.length],
  ),
);

const byAnyName = new Map<string, Register>();
for (const r of REGISTERS) {
  for (const n of [r.name, r.regName, r.upperName]) byAnyName.set(n.toLowerCase(), r);
}

/** Looks a register up by any of its names, case-insensitively (`Vac1`, `VAC1`, `REG_VAC1`). */
export function findRegister(name: string): Register | undefined {
  return byAnyName.get(name.trim().toLowerCase());
}

export function registerById(id: number): Register | undefined {
  return Number.isInteger(id) && id >= 0 && id < REGISTERS.length ? REGISTERS[id] : undefined;
}

/** Raw u16 → engineering value, rounded to the register's resolution to avoid 24.299999 noise. */
export function scaleRaw(register: Register, raw: number): number {
  const v = (raw * register.multiplier) / register.divisor;
  // An integer over a power of ten is already the double nearest the decimal value (division is
  // correctly rounded), which is all the rounding below would give: skipped on the hot path.
  if (Number.isInteger(raw * register.multiplier)) return v;
  const decimals = Math.round(Math.log10(register.divisor));
  return decimals > 0 ? Number(v.toFixed(decimals)) : v;
}
