// Instruction override and prompt extraction in French, German, Spanish, Portuguese and Italian: the
// same structure as the English rules (verb + target + scope, in any order within a window) over a
// small per-language lexicon, on accent-folded tokens. Returns the English rules' flags.

import type { RuleHit } from "./rule-hit.ts";

const Cls = {
  OverrideVerb: 1,
  Target: 2,
  Scope: 4,
  ExtractVerb: 8,
  /** "your" in each language: the model's own instructions, not a manual's. */
  Yours: 16,
  /** "which/what" opening a question. */
  Question: 32,
  /** "received", "given", "told": instructions the model was given. */
  Received: 64,
  /** "everything": a target only when a scope word says which. */
  Everything: 128,
  /** "text", "message": a target of repetition when "above" or "system" says which. */
  Text: 256,
} as const;

// Accent-folded, lower case. Imperatives in the familiar and polite forms, and infinitives (German and
// Romance prompts often put the verb last or use "du sollst … ignorieren").
const LEXICON: ReadonlyArray<readonly [number, string]> = [
  [
    Cls.OverrideVerb,
    // fr
    "ignore ignorez ignorer oublie oubliez oublier neglige negligez negliger contourne contournez contourner " +
      "outrepasse outrepassez outrepasser annule annulez efface effacez ecarte ecartez desobeis desobeissez " +
      // de
      "ignoriere ignorier ignorieren ignoriert vergiss vergesst vergessen missachte missachten missachtet " +
      "uebergehe ubergehe umgehe umgehen ueberschreibe uberschreibe verwirf verwerfe verwerfen hinweg " +
      // es
      "ignora ignorar ignoren olvida olvide olviden olvidar omite omita omitir descarta descarte descartar " +
      "anula anule desobedece desobedezca salta saltate " +
      // pt
      "ignorem esqueca esquece esquecam esquecer desconsidere desconsidera desconsiderar descarta descartem " +
      "omitam anule contorne burle " +
      // it
      "ignori ignorare ignorate dimentica dimentichi dimenticare dimenticate tralascia trascura trascurare " +
      "scarta annulla aggira aggirare disobbedisci",
  ],
  [
    Cls.Target,
    "instructions instruction consignes consigne regles regle directives directive ordres prompt prompts " +
      "anweisungen anweisung instruktionen regeln regel richtlinien vorgaben befehle systemprompt " +
      "instrucciones instruccion reglas normas directrices indicaciones ordenes " +
      "instrucoes instrucao regras diretrizes orientacoes " +
      "istruzioni istruzione regole direttive norme ordini",
  ],
  [
    Cls.Scope,
    "precedentes precedents precedente anterieures anterieurs initiales initiaux initial originales originaux " +
      "systeme cachees caches secretes secrets dessus avant toutes tous " +
      "vorherigen vorherige bisherigen bisherige urspruenglichen ursprunglichen urspruengliche ursprungliche " +
      "obigen oben vorher alle allen geheimen versteckten system systemprompt systemnachricht " +
      "anteriores anterior previas previos iniciales originales sistema ocultas ocultos secretas secretos " +
      "arriba antes todas todos " +
      "iniciais originais acima todas " +
      "precedenti iniziali originali nascoste segrete sopra prima tutte tutti",
  ],
  [
    Cls.ExtractVerb,
    "revele revelez reveler montre montrez afficher affiche affichez repete repetez recite recitez traduis " +
      "traduisez ecris ecrivez donne donnez copie copiez imprime convertis convertissez dis dites " +
      "zeig zeige zeigen gib geben wiederhole wiederholen uebersetze ubersetze uebersetzen ubersetzen schreib " +
      "schreibe nenne nennen kopiere kopier verrate verraten drucke wandle " +
      "revela revele muestra muestre repite repita traduce traduzca escribe escriba dame deme dime diga copia " +
      "imprime convierte convierta " +
      "mostre mostra repita repete traduza escreva diz conte copie imprima converta " +
      "rivela mostra ripeti traduci scrivi dimmi dammi copia stampa converti elenca",
  ],
  [
    Cls.Yours,
    "tes vos ton ta votre " +
      "deine dein deinen deiner deinem ihre ihren ihrer dir " +
      "tus tu sus su " +
      "tuas teus tua teu suas seus sua seu " +
      "tue tuoi tuo sue suoi",
  ],
  [Cls.Question, "quelles quels quelle quel welche welches cuales cual quais qual quali quale"],
  [
    Cls.Received,
    "recues recu reçues donnees dites bekommen erhalten gegeben gesagt recibiste recibido dieron dijeron " +
      "indicaron recebeu recebido recebidas deram disseram ricevuto ricevute ricevuti dato detto",
  ],
  [Cls.Everything, "tout alles todo tudo tutto"],
  [Cls.Text, "texte text texto testo message nachricht mensaje mensagem messaggio systemnachricht"],
];

// Words spelled the same in English: a hit needs at least one word that is not, so an English
// sentence is left to the English rules and is not counted twice.
const SHARED_WITH_ENGLISH = new Set(
  "ignore instructions instruction directives directive prompt prompts system text message initial dis".split(
    " ",
  ),
);

const CLASSES = new Map<string, number>();
for (const [cls, words] of LEXICON) {
  for (const w of words.split(" ")) if (w) CLASSES.set(w, (CLASSES.get(w) ?? 0) | cls);
}

// Spanish and Italian attach pronouns to imperatives ("muéstramelas", "dimmi", "mostramele").
const CLITIC = /^(.{4,}?)(?:melas|melos|mela|melo|mele|meli|las|los|me|mi|lo|la|le)$/;

// German compounds end in their head noun ("Sicherheitsregeln", "Systemanweisungen").
const GERMAN_TARGET_HEAD = /.{3}(?:regeln|anweisungen|richtlinien|vorgaben|befehle|instruktionen)$/;

function classOf(token: string): number {
  const direct = CLASSES.get(token);
  if (direct !== undefined) return direct;
  if (GERMAN_TARGET_HEAD.test(token)) return Cls.Target;
  const stem = CLITIC.exec(token)?.[1];
  return stem === undefined ? 0 : (CLASSES.get(stem) ?? 0) & (Cls.OverrideVerb | Cls.ExtractVerb);
}

// Set phrases that mean "ignore": folded to the verb before tokenizing.
const IGNORE_PHRASES =
  /\b(?:(?:ne )?(?:tiens|tenez|tenir) (?:plus |pas )?compte|fais abstraction|faites abstraction|passe outre|passez outre|ausser acht|no hagas caso|haz caso omiso|pasa por alto|deja de lado|deixe de lado|nao (?:leve|levar) em (?:conta|consideracao)|nao considere|non tenere conto|non tener conto|lascia perdere|lasci perdere)\b/g;
// Limits declared lifted ("sans aucune restriction", "ohne Einschränkungen").
const NO_LIMITS =
  /\b(?:sans (?:aucune )?(?:restrictions?|limites?|filtres?|censure)|ohne (?:jegliche )?(?:einschrankungen|beschrankungen|regeln|filter|zensur)|sin (?:ninguna )?(?:restricciones|restriccion|limites|filtros|censura)|sem (?:nenhuma )?(?:restricoes|restricao|limites|filtros|censura)|senza (?:alcuna )?(?:restrizioni|restrizione|limiti|filtri|censura))\b/;

// Tokenizing is the costly part; it runs only on text with a letter, a stem of a target word or a
// function word that English prose hardly uses (a cheap scan: most text has none).
const FOREIGN_MARKER =
  /[àâçéèêëîïôûùäöüßáíóúñãõì]|consign|anweis|instrukt|regl|regel|regol|regra|richtlin|vorgab|befehl|instrucc|instruca|instruco|istruz|dirett|diretriz|directri|indicacion|orientac|\b(?:il|le|les|des|ton|ta|tes|vos|votre|dein|deine|deinem|deiner|ihre|ihren|tu|su|seu|sua|seus|teu|tua|teus|tuo|tuoi|sue|toutes|tous|tout|und|deine|deinen|alle|alles|las|los|tus|sus|todas|todos|todo|suas|tuas|tudo|tue|tutte|tutti|tutto|della|sono|sind|sont)\b/;

function fold(text: string): string {
  const ascii = /^[\0-\x7f]*$/.test(text)
    ? text
    : text.normalize("NFD").replace(/\p{M}/gu, "").replace(/ß/g, "ss");
  // "linee guida" is one word for the rules.
  return ascii
    .toLowerCase()
    .replace(/\blinee guida\b/g, "direttive")
    .replace(IGNORE_PHRASES, "ignore");
}

const WINDOW = 10;

/** Override and extraction hits in a lower-case view of the text, in the five languages. */
export function multilingualHits(view: string): RuleHit[] {
  // The whole view (each verb looks at most WINDOW words around it): a cap would let a prompt
  // padded past it hide its instruction at the end.
  if (!FOREIGN_MARKER.test(view)) return [];
  const text = fold(view);
  const tokens = text.match(/[a-z]+/g) ?? [];
  const classes = tokens.map(classOf);
  const foreign = (k: number) => classes[k] !== 0 && !SHARED_WITH_ENGLISH.has(tokens[k] ?? "");
  const has = (from: number, to: number, cls: number, except: number[]) => {
    for (let k = Math.max(0, from); k <= Math.min(classes.length - 1, to); k++) {
      if (!except.includes(k) && ((classes[k] ?? 0) & cls) !== 0) return k;
    }
    return -1;
  };
  let override = 0;
  let extraction = 0;
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i] ?? 0;
    if ((c & (Cls.OverrideVerb | Cls.ExtractVerb | Cls.Question)) === 0) continue;
    for (let j = Math.max(0, i - WINDOW); j <= Math.min(classes.length - 1, i + WINDOW); j++) {
      const t = classes[j] ?? 0;
      if (j === i || (t & (Cls.Target | Cls.Everything | Cls.Text)) === 0) continue;
      const lo = Math.min(i, j) - 2;
      const hi = Math.max(i, j) + 2;
      const scope = has(lo, hi, Cls.Scope, [i, j]);
      const yours = has(lo, hi, Cls.Yours, [i, j]);
      // "forget everything you were told before": the clause saying which may run a few words on.
      const told = t & Cls.Everything ? has(hi, hi + 5, Cls.Scope | Cls.Received, [i, j]) : -1;
      const used = [i, j, scope, yours, told].filter((k) => k >= 0);
      if (!used.some(foreign)) continue;
      if (c & Cls.OverrideVerb && t & (Cls.Target | Cls.Everything)) {
        if (scope >= 0 || yours >= 0 || told >= 0) override = Math.max(override, 0.9);
        else if (t & Cls.Target) override = Math.max(override, 0.4);
      }
      if (c & Cls.ExtractVerb && t & (Cls.Target | Cls.Text)) {
        const strength = scope >= 0 ? 0.75 : yours >= 0 && t & Cls.Target ? 0.55 : t & Cls.Target ? 0.3 : 0;
        extraction = Math.max(extraction, strength);
      }
      if (c & Cls.Question && t & Cls.Target && (yours >= 0 || has(lo, hi + 4, Cls.Received, [i, j]) >= 0)) {
        extraction = Math.max(extraction, 0.55);
      }
    }
  }
  const hits: RuleHit[] = [];
  if (override > 0) hits.push({ flag: "instruction_override", weight: override });
  if (extraction > 0) hits.push({ flag: "prompt_extraction", weight: extraction });
  if (NO_LIMITS.test(text)) hits.push({ flag: "persona_switch", weight: 0.3 });
  return hits;
}
