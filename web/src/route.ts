/** A page: where it lives in the hash, its title, and how it mounts (returning its clean-up). */
export interface Route {
  pattern: RegExp;
  nav?: { href: string; label: string };
  title(params: string[]): string;
  mount(main: HTMLElement, params: string[]): () => void;
}

export const pageTitle = (t: string) => `${t} · EcoWatt Cloud`;
