import { Fragment, type ReactNode, useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { ErrorLine, messageOf } from "./forms";
import { useQueryParam } from "./url";
import { CardTable } from "./layout";

// The services' REST APIs as their OpenAPI documents describe them (each service generates its own
// from its code and serves it; the entry point serves them at /api/openapi/{service}.json).

/** The documents, in the order the screen offers them. */
const SERVICES = [
  { id: "query", title: "Events, statistics, search and accounts" },
  { id: "ingest", title: "Streams" },
  { id: "enrich", title: "Watchlists" },
  { id: "notifier", title: "Alerts" },
  { id: "scheduler", title: "Report schedules" },
] as const;

type ServiceId = (typeof SERVICES)[number]["id"];

/** The parts of an OpenAPI 3.1 schema the screen shows. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  allOf?: Schema[];
  oneOf?: Schema[];
  description?: string;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}

interface Content {
  [mediaType: string]: { schema?: Schema };
}

interface Operation {
  tags?: string[];
  summary?: string;
  description?: string;
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { description?: string; content?: Content; required?: boolean };
  responses?: Record<string, { $ref?: string; description?: string; content?: Content }>;
  security?: Record<string, string[]>[];
}

interface Spec {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components?: {
    schemas?: Record<string, Schema>;
    responses?: Record<string, { description?: string; content?: Content }>;
  };
}

const METHODS = ["get", "post", "put", "patch", "delete"];

/** The name a `$ref` points at: `#/components/schemas/Stream` is `Stream`. */
const refName = (ref: string) => ref.slice(ref.lastIndexOf("/") + 1);

/** A schema as a short type: `string`, `Stream[]`, `integer | null`, `"pdf" | "csv"`. */
function TypeOf({ schema, onSchema }: { schema: Schema | undefined; onSchema: (name: string) => void }): ReactNode {
  if (!schema) return "any";
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return (
      <button type="button" className="link" onClick={() => onSchema(name)}>
        {name}
      </button>
    );
  }
  const variants = schema.oneOf ?? schema.allOf;
  if (variants) {
    const joiner = schema.oneOf ? " | " : " & ";
    return variants.map((variant, i) => (
      <Fragment key={i}>
        {i > 0 && joiner}
        <TypeOf schema={variant} onSchema={onSchema} />
      </Fragment>
    ));
  }
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? "object"];
  return types.map((type, i) => (
    <Fragment key={type}>
      {i > 0 && " | "}
      {type === "array" ? (
        <>
          <TypeOf schema={schema.items} onSchema={onSchema} />
          []
        </>
      ) : type === "string" && schema.format === "binary" ? (
        "bytes"
      ) : type === "string" && schema.format ? (
        `string (${schema.format})`
      ) : (
        type
      )}
    </Fragment>
  ));
}

/** A schema's meaning: its own description, or that of a variant (`Roi` of `Roi | null`). */
const meaningOf = (schema: Schema | undefined): string | undefined =>
  schema?.description ?? (schema?.oneOf ?? schema?.allOf)?.find((variant) => variant.description)?.description;

/** Every field of an object schema, those of `allOf` parts included (a flattened struct). */
function fieldsOf(schema: Schema, schemas: Record<string, Schema>): [string, Schema, boolean][] {
  if (schema.$ref) return fieldsOf(schemas[refName(schema.$ref)] ?? {}, schemas);
  const own = Object.entries(schema.properties ?? {}).map(([name, field]): [string, Schema, boolean] => [
    name,
    field,
    schema.required?.includes(name) ?? false,
  ]);
  return [...(schema.allOf ?? []).flatMap((part) => fieldsOf(part, schemas)), ...own];
}

/** The bodies of a request or response: media type and schema. */
function Bodies({ content, onSchema }: { content: Content | undefined; onSchema: (name: string) => void }) {
  if (!content) return null;
  return Object.entries(content).map(([mediaType, { schema }]) => (
    <span key={mediaType}>
      {" "}
      <code>{mediaType}</code> <TypeOf schema={schema} onSchema={onSchema} />
    </span>
  ));
}

/** One operation, folded: its method, path and summary; open, its parameters, body and answers. */
function OperationView({
  method,
  path,
  operation,
  spec,
  onSchema,
}: {
  method: string;
  path: string;
  operation: Operation;
  spec: Spec;
  onSchema: (name: string) => void;
}) {
  const open = operation.security?.some((requirement) => Object.keys(requirement).length === 0);
  return (
    <details className="operation">
      <summary>
        <span className={`method method-${method}`}>{method.toUpperCase()}</span> <code>/api{path}</code> <span>{operation.summary}</span>
      </summary>
      {operation.description && <p className="description">{operation.description}</p>}
      {open && <p className="muted">No credentials needed.</p>}
      {operation.parameters && operation.parameters.length > 0 && (
        <CardTable>
          <thead>
            <tr>
              <th>Parameter</th>
              <th>In</th>
              <th>Type</th>
              <th>Meaning</th>
            </tr>
          </thead>
          <tbody>
            {operation.parameters.map((parameter) => (
              <tr key={`${parameter.in}-${parameter.name}`}>
                <td>
                  <code>{parameter.name}</code>
                  {parameter.required && " (required)"}
                </td>
                <td>{parameter.in}</td>
                <td>
                  <TypeOf schema={parameter.schema} onSchema={onSchema} />
                </td>
                <td>{parameter.description ?? meaningOf(parameter.schema)}</td>
              </tr>
            ))}
          </tbody>
        </CardTable>
      )}
      {operation.requestBody && (
        <p>
          Body:
          <Bodies content={operation.requestBody.content} onSchema={onSchema} />
          {operation.requestBody.description && ` — ${operation.requestBody.description}`}
        </p>
      )}
      <CardTable>
        <thead>
          <tr>
            <th>Answer</th>
            <th>Meaning</th>
            <th>Body</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(operation.responses ?? {}).map(([status, answer]) => {
            const shared = answer.$ref ? spec.components?.responses?.[refName(answer.$ref)] : answer;
            return (
              <tr key={status}>
                <td>{status}</td>
                <td>{shared?.description}</td>
                <td>
                  <Bodies content={shared?.content} onSchema={onSchema} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </CardTable>
    </details>
  );
}

/** A schema's fields, with their types and meaning. */
function SchemaView({ name, spec, onSchema }: { name: string; spec: Spec; onSchema: (name: string) => void }) {
  const view = useRef<HTMLElement>(null);
  useEffect(() => view.current?.scrollIntoView({ block: "nearest" }), [name]);
  const schemas = spec.components?.schemas ?? {};
  const schema = schemas[name];
  if (!schema) return null;
  const fields = fieldsOf(schema, schemas);
  return (
    <section className="schema" aria-label={`Schema ${name}`} ref={view}>
      <h3>{name}</h3>
      {schema.description && <p className="description">{schema.description}</p>}
      {fields.length === 0 ? (
        <p>
          <TypeOf schema={schema} onSchema={onSchema} />
        </p>
      ) : (
        <CardTable>
          <thead>
            <tr>
              <th>Field</th>
              <th>Type</th>
              <th>Meaning</th>
            </tr>
          </thead>
          <tbody>
            {fields.map(([field, fieldSchema, required]) => (
              <tr key={field}>
                <td>
                  <code>{field}</code>
                  {!required && <span className="muted"> (optional)</span>}
                </td>
                <td>
                  <TypeOf schema={fieldSchema} onSchema={onSchema} />
                </td>
                <td>{meaningOf(fieldSchema)}</td>
              </tr>
            ))}
          </tbody>
        </CardTable>
      )}
    </section>
  );
}

/** The OpenAPI document of `service`, as the entry point serves it. */
async function documentOf(service: ServiceId): Promise<Spec> {
  const response = await fetch(`/api/openapi/${service}.json`, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`the ${service} service's OpenAPI document is not available (${response.status})`);
  return (await response.json()) as Spec;
}

/** The REST APIs, browsable: each service's operations by tag, and the schemas they take and answer. */
export function ApiReference() {
  // The service shown is in the address (`?service=`); the query service's API is the default.
  const [chosen, setService] = useQueryParam("service");
  const service: ServiceId = SERVICES.some((candidate) => candidate.id === chosen) ? (chosen as ServiceId) : "query";
  const answer = useQuery({ queryKey: ["openapi", service], queryFn: () => documentOf(service), staleTime: Infinity });
  const spec = answer.data ?? null;
  const error = answer.error ? messageOf(answer.error) : null;
  const [schema, setSchema] = useState<string | null>(null);

  const operations = spec
    ? Object.entries(spec.paths).flatMap(([path, item]) =>
        METHODS.filter((method) => item[method]).map((method) => ({ path, method, operation: item[method] })),
      )
    : [];
  const tags = [...new Set(operations.map(({ operation }) => operation.tags?.[0] ?? "other"))];
  const showSchema = (name: string) => setSchema(name);

  return (
    <section className="reference">
      <div className="title-row">
        <h2>API</h2>
        <label>
          Service{" "}
          <select
            value={service}
            onChange={(event) => {
              setSchema(null);
              setService(event.target.value);
            }}
          >
            {SERVICES.map((candidate) => (
              <option key={candidate.id} value={candidate.id}>
                {candidate.title}
              </option>
            ))}
          </select>
        </label>
        <a href={`/api/openapi/${service}.json`} download={`sightline-${service}.openapi.json`}>
          Download the OpenAPI document
        </a>
      </div>
      <ErrorLine error={error} />
      {spec && (
        <>
          <h3>
            {spec.info.title} <span className="muted">{spec.info.version}</span>
          </h3>
          {spec.info.description && <p className="description">{spec.info.description}</p>}
          <p className="muted">
            Programs authenticate with <code>Authorization: Bearer &lt;token&gt;</code> (an admin issues tokens under Users and tokens);
            this app uses its session cookie. Errors answer JSON <code>{'{"error": "..."}'}</code>.
          </p>
          {tags.map((tag) => (
            <div key={tag} className="tag">
              <h3>{tag}</h3>
              {operations
                .filter(({ operation }) => (operation.tags?.[0] ?? "other") === tag)
                .map(({ path, method, operation }) => (
                  <OperationView
                    key={`${method} ${path}`}
                    method={method}
                    path={path}
                    operation={operation}
                    spec={spec}
                    onSchema={showSchema}
                  />
                ))}
            </div>
          ))}
          {schema && <SchemaView name={schema} spec={spec} onSchema={showSchema} />}
          <h3>Schemas</h3>
          <p className="schemas">
            {Object.keys(spec.components?.schemas ?? {}).map((name) => (
              <button key={name} type="button" className="link" onClick={() => showSchema(name)}>
                {name}
              </button>
            ))}
          </p>
        </>
      )}
    </section>
  );
}
