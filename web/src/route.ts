/** A page: where it lives in the hash, its title, and how it mounts (returning its clean-up). */
import type { Role } from './api';

export interface Route {
  pattern: RegExp;
  nav?: { href: string; label: string };
  /** The least role that may open it (default: everyone signed in). */
  role?: Role;
  title(params: string[]): string;
  mount(main: HTMLElement, params: string[]): () => void;
}

export const pageTitle = (t: string) => `${t} · EcoWatt Cloud`;
