// A listed person's name and external id, as enrolment and their page ask for them.
import { FieldProblem, type Problem } from "../forms";

interface PersonFieldsProps {
  name: string;
  externalId: string;
  onName: (name: string) => void;
  onExternalId: (externalId: string) => void;
  /** The service's refusal, shown beside the field it names. */
  problem: Problem;
}

/** The two inputs, each with the service's refusal beside it. */
export function PersonFields({ name, externalId, onName, onExternalId, problem }: PersonFieldsProps) {
  return (
    <>
      <label>
        Display name
        <input value={name} onChange={(e) => onName(e.target.value)} required autoComplete="off" />
        <FieldProblem problem={problem} field="display_name" />
      </label>
      <label>
        External id
        <input value={externalId} onChange={(e) => onExternalId(e.target.value)} autoComplete="off" />
        <FieldProblem problem={problem} field="external_id" />
      </label>
    </>
  );
}
