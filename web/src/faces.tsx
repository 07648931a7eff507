// A photo with the faces the service found in it boxed: refused faces in red, and, in a photo of
// several people, the usable faces as buttons to choose the one meant (enrolment, search by face).
import { type ExaminedPhoto } from "./api";

/** Whether the face meant must be chosen among several usable ones in `examined`. */
export const choosable = (examined: ExaminedPhoto | null) =>
  (examined?.faces.length ?? 0) > 1 && (examined?.faces.some((face) => !face.problem) ?? false);

/**
 * `src` (the photo, `alt` its description) with `examined`'s faces boxed; when a face must be
 * chosen, each usable one is a button named "Face N of `name`" that calls `onChoose` with its index.
 */
export function FramedFaces({
  src,
  alt,
  name,
  examined,
  chosen,
  onChoose,
}: {
  src: string;
  alt: string;
  name: string;
  examined: ExaminedPhoto | null;
  chosen: number | null;
  onChoose: (index: number) => void;
}) {
  return (
    <div className="framed">
      <img src={src} alt={alt} />
      {examined?.faces.map((face, index) => {
        const place = {
          left: `${(face.x / examined.width) * 100}%`,
          top: `${(face.y / examined.height) * 100}%`,
          width: `${(face.width / examined.width) * 100}%`,
          height: `${(face.height / examined.height) * 100}%`,
        };
        if (!choosable(examined) || face.problem) {
          return <span key={index} className={face.problem ? "box refused" : "box"} style={place} />;
        }
        return (
          <button
            key={index}
            type="button"
            className={chosen === index ? "box choosable chosen" : "box choosable"}
            style={place}
            aria-label={`Face ${index + 1} of ${name}`}
            aria-pressed={chosen === index}
            onClick={() => onChoose(index)}
          />
        );
      })}
    </div>
  );
}
